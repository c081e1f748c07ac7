//! Check constraint expressions and partial-index predicates printed from their stored node
//! trees (`pg_constraint.conbin`, `pg_index.indpred`), as `pg_get_expr(tree, relid)` prints them.
//!
//! Why: to print an expression that may name columns, the server's deparser first builds a
//! deparse context for the table, which opens the relation and builds its relcache entry, once
//! per table for `pg_get_constraintdef` on the CHECK constraints and `pg_get_expr` on the index
//! predicates: a cost that grows with the number of tables. The commonest expressions are small — a column compared with an integer
//! or a string, `IS NULL`, `AND`/`OR`/`NOT` of those — and their text follows from the tree and
//! the operator and column names alone.
//!
//! How it stays exact: this module reads the tree text (the format of the server's
//! `outfuncs.c`) and prints only a whitelist of node shapes whose printing it knows word for
//! word: column references of the table, non-null `integer`, `boolean` and plain-ASCII `text`
//! constants, operators of `pg_catalog` whose argument types are exactly those of the operator
//! (so the server prints them unqualified), `AND`/`OR`/`NOT`, and `IS [NOT] NULL` on a column of
//! a plain base type. Anything else — another node, another type, a field with an unexpected
//! value, a malformed tree — gives `None`, and the caller asks the server, so the result is
//! never a guess. Fields are looked up by name, so the fields that differ between server
//! versions (`varnullingrels`, `varreturningtype`, `location`…) do not matter. Unit tests below
//! hold trees captured from PostgreSQL 10, 15 and 18 with what those servers printed, and
//! `tests/tests/roundtrip.rs` compares every definition of every corpus with the server's.

use super::indexdef::KeyColumn;
use crate::quote;
use std::collections::HashMap;

const BOOL: u32 = 16;
const INT4: u32 = 23;
const TEXT: u32 = 25;
/// The collation of a `text` constant without `COLLATE` (`DEFAULT_COLLATION_OID`).
const DEFAULT_COLLATION: u32 = 100;
/// Nesting deeper than this (in the tree text, or in the expression) is left to the server.
const MAX_DEPTH: usize = 256;

/// One operator of `pg_catalog`.
#[derive(Debug, Clone)]
pub(super) struct Operator {
    pub name: String,
    /// `oprkind`: `b` (infix), `l` (prefix), `r` (postfix, before 14).
    pub kind: char,
    pub left: u32,
    pub right: u32,
}

/// The operators of `pg_catalog` by oid: the only ones the server prints without
/// `OPERATOR(schema.name)` with the read's empty `search_path`.
#[derive(Debug, Default)]
pub(super) struct Operators {
    pub by_oid: HashMap<u32, Operator>,
}

/// The query that fills [`Operators`] (9.4+): oid, name, kind, left and right types.
pub(super) const OPERATORS_SQL: &str =
    "SELECT o.oid, o.oprname::text AS name, o.oprkind, o.oprleft, o.oprright
     FROM pg_catalog.pg_operator o
     WHERE o.oprnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')";

/// What printing an expression of one table needs.
pub(super) struct Context<'a> {
    pub table_oid: u32,
    /// Every column by (table, attnum).
    pub columns: &'a HashMap<(u32, i16), KeyColumn>,
    pub operators: &'a Operators,
}

/// `tree` (the text of a stored expression of the context's table) as `pg_get_expr` prints
/// it, or `None` when the server must print it.
pub(super) fn deparse(tree: &str, ctx: &Context) -> Option<String> {
    let mut tokens = Tokens::new(tree);
    let item = parse(&mut tokens, 0)?;
    if tokens.next().is_some() {
        return None;
    }
    let Item::Node(node) = item else {
        return None;
    };
    let mut out = String::new();
    expr(&node, ctx, &mut out, 0)?;
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// The node tree text: `{TAG :field value ...}`, lists `( ... )` (`(i 1 2)`, `(b)`…), `<>` for
// NULL, atoms with backslash escapes, and Datums `N [ b0 b1 ... ]`.

/// What a byte is to the tokenizer, by table: the scan is most of a deparse's time.
const OTHER: u8 = 0;
const SPACE: u8 = 1;
const DELIMITER: u8 = 2;
const ESCAPE: u8 = 3;
const BYTE: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b' ' as usize] = SPACE;
    t[b'\n' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'(' as usize] = DELIMITER;
    t[b')' as usize] = DELIMITER;
    t[b'{' as usize] = DELIMITER;
    t[b'}' as usize] = DELIMITER;
    t[b'\\' as usize] = ESCAPE;
    t
};

/// Splits tree text into tokens as the server's reader does: `(`, `)`, `{`, `}` stand alone,
/// anything else runs to whitespace or one of those, a backslash escaping the next byte.
struct Tokens<'t> {
    s: &'t [u8],
    pos: usize,
    /// The token `peek` found, so `next` does not scan it again.
    peeked: Option<(usize, usize)>,
}

impl<'t> Tokens<'t> {
    fn new(s: &'t str) -> Self {
        Tokens {
            s: s.as_bytes(),
            pos: 0,
            peeked: None,
        }
    }

    /// Where the next token starts and ends.
    fn scan(&self) -> Option<(usize, usize)> {
        let s = self.s;
        let mut i = self.pos;
        while i < s.len() && BYTE[s[i] as usize] == SPACE {
            i += 1;
        }
        if i >= s.len() {
            return None;
        }
        let start = i;
        if BYTE[s[i] as usize] == DELIMITER {
            return Some((start, start + 1));
        }
        loop {
            while i < s.len() && BYTE[s[i] as usize] == OTHER {
                i += 1;
            }
            if i < s.len() && BYTE[s[i] as usize] == ESCAPE {
                i += 2;
            } else {
                return Some((start, i.min(s.len())));
            }
        }
    }

    fn peek(&mut self) -> Option<&'t [u8]> {
        let (start, end) = match self.peeked {
            Some(span) => span,
            None => {
                let span = self.scan()?;
                self.peeked = Some(span);
                span
            }
        };
        Some(&self.s[start..end])
    }

    fn next(&mut self) -> Option<&'t [u8]> {
        let (start, end) = match self.peeked.take() {
            Some(span) => span,
            None => self.scan()?,
        };
        self.pos = end;
        Some(&self.s[start..end])
    }
}

#[derive(Debug)]
enum Item<'t> {
    Node(Node<'t>),
    List(Vec<Item<'t>>),
    /// A token as written (escapes kept).
    Atom(&'t [u8]),
    /// `<>`.
    Null,
}

/// A field's items.
type Values<'t> = smallvec::SmallVec<[Item<'t>; 1]>;

#[derive(Debug)]
struct Node<'t> {
    tag: &'t [u8],
    /// Each `:field` and the items up to the next field (nearly always one: inline).
    fields: Vec<(&'t [u8], Values<'t>)>,
}

fn parse<'t>(t: &mut Tokens<'t>, depth: usize) -> Option<Item<'t>> {
    if depth > MAX_DEPTH {
        return None;
    }
    match t.next()? {
        b"{" => {
            let tag = t.next()?;
            if matches!(tag, b"(" | b")" | b"{" | b"}") || tag.starts_with(b":") {
                return None;
            }
            // Nodes of the whitelist have 6 to 16 fields: one allocation, not four growing.
            let mut fields = Vec::with_capacity(16);
            loop {
                let tok = t.next()?;
                if tok == b"}" {
                    break;
                }
                let name = tok.strip_prefix(b":")?;
                let mut values = Values::new();
                while let Some(p) = t.peek() {
                    if p == b"}" || p.starts_with(b":") {
                        break;
                    }
                    values.push(parse(t, depth + 1)?);
                }
                fields.push((name, values));
            }
            Some(Item::Node(Node { tag, fields }))
        }
        b"(" => {
            let mut items = Vec::new();
            loop {
                if t.peek()? == b")" {
                    t.next();
                    break;
                }
                items.push(parse(t, depth + 1)?);
            }
            Some(Item::List(items))
        }
        b")" | b"}" => None,
        b"<>" => Some(Item::Null),
        atom => Some(Item::Atom(atom)),
    }
}

impl<'t> Node<'t> {
    /// The items of field `name`; `None` if it is missing or repeated.
    fn field(&self, name: &str) -> Option<&[Item<'t>]> {
        let mut found = self.fields.iter().filter(|(n, _)| *n == name.as_bytes());
        let (_, values) = found.next()?;
        if found.next().is_some() {
            return None;
        }
        Some(values)
    }

    fn one(&self, name: &str) -> Option<&Item<'t>> {
        match self.field(name)? {
            [item] => Some(item),
            _ => None,
        }
    }

    fn atom(&self, name: &str) -> Option<&'t [u8]> {
        match self.one(name)? {
            Item::Atom(a) => Some(a),
            _ => None,
        }
    }

    fn num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        number(self.atom(name)?)
    }

    fn flag(&self, name: &str) -> Option<bool> {
        match self.atom(name)? {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// The nodes of a list field.
    fn nodes(&self, name: &str) -> Option<Vec<&Node<'t>>> {
        let Item::List(items) = self.one(name)? else {
            return None;
        };
        items
            .iter()
            .map(|i| match i {
                Item::Node(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    /// A Datum field, `N [ b0 b1 ... ]`: its stated length and its bytes.
    fn datum(&self, name: &str) -> Option<(usize, Vec<u8>)> {
        let items = self.field(name)?;
        let [Item::Atom(len), Item::Atom(b"["), bytes @ .., Item::Atom(b"]")] = items else {
            return None;
        };
        let bytes = bytes
            .iter()
            .map(|b| match b {
                Item::Atom(a) => number::<i8>(a).map(|v| v as u8),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()?;
        Some((number(len)?, bytes))
    }
}

/// A plain decimal number (`-` allowed, nothing else).
fn number<T: std::str::FromStr>(a: &[u8]) -> Option<T> {
    let digits = a.strip_prefix(b"-").unwrap_or(a);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(a).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Printing, as ruleutils.c's non-pretty mode does: every operator, boolean and null test in
// parentheses, nothing else added.

/// Print `n` to `out`; its type (the server's `exprType`), or `None` if it is not whitelisted.
fn expr(n: &Node, ctx: &Context, out: &mut String, depth: usize) -> Option<u32> {
    if depth > MAX_DEPTH {
        return None;
    }
    match n.tag {
        b"VAR" => var(n, ctx, out),
        b"CONST" => constant(n, out),
        b"OPEXPR" => operator(n, ctx, out, depth),
        b"BOOLEXPR" => boolean(n, ctx, out, depth),
        b"NULLTEST" => null_test(n, ctx, out),
        _ => None,
    }
}

/// The column a Var names, if it is a plain reference to a column of the context's table.
fn column<'c>(n: &Node, ctx: &Context<'c>) -> Option<&'c KeyColumn> {
    if n.tag != b"VAR" || n.num::<i64>("varno")? != 1 || n.num::<i64>("varlevelsup")? != 0 {
        return None;
    }
    // 16+: no outer join can null a column of a constraint or an index predicate (the set is
    // empty, `(b)`).
    if let Some(nulling) = n.field("varnullingrels") {
        let empty = |l: &[Item]| matches!(l, [Item::Atom(b"b")]);
        if !matches!(nulling, [Item::List(l)] if empty(l)) {
            return None;
        }
    }
    // 18+: only the default (not OLD/NEW of RETURNING).
    if n.field("varreturningtype").is_some() && n.num::<i64>("varreturningtype")? != 0 {
        return None;
    }
    let attnum: i16 = n.num("varattno")?;
    if attnum <= 0 {
        return None;
    }
    let col = ctx.columns.get(&(ctx.table_oid, attnum))?;
    (n.num::<u32>("vartype")? == col.type_oid).then_some(col)
}

fn var(n: &Node, ctx: &Context, out: &mut String) -> Option<u32> {
    let col = column(n, ctx)?;
    out.push_str(&quote::ident(&col.name));
    Some(col.type_oid)
}

/// A byval Datum's 8 bytes as the int32 they hold, the server's Datum being 8 bytes and
/// little-endian: the upper four bytes must be the sign extension of the lower four (a
/// big-endian Datum fails this unless it reads the same either way).
fn int32_datum(bytes: &[u8]) -> Option<i32> {
    let [b0, b1, b2, b3, rest @ ..] = bytes else {
        return None;
    };
    let v = i32::from_le_bytes([*b0, *b1, *b2, *b3]);
    let ext = if v < 0 { 0xff } else { 0 };
    (rest.len() == 4 && rest.iter().all(|b| *b == ext)).then_some(v)
}

fn constant(n: &Node, out: &mut String) -> Option<u32> {
    if n.flag("constisnull")? || n.num::<i32>("consttypmod")? != -1 {
        return None;
    }
    let ty: u32 = n.num("consttype")?;
    let (len, bytes) = n.datum("constvalue")?;
    let (constlen, byval, collation) = (
        n.num::<i32>("constlen")?,
        n.flag("constbyval")?,
        n.num::<u32>("constcollid")?,
    );
    match ty {
        INT4 if constlen == 4 && byval && collation == 0 && len == 4 => {
            let v = int32_datum(&bytes)?;
            // A negative integer is quoted and labelled, so it reads back as one constant.
            if v >= 0 {
                out.push_str(&v.to_string());
            } else {
                out.push_str(&format!("'{v}'::integer"));
            }
        }
        BOOL if constlen == 1 && byval && collation == 0 && len == 1 => match bytes.as_slice() {
            [1, 0, 0, 0, 0, 0, 0, 0] => out.push_str("true"),
            [0, 0, 0, 0, 0, 0, 0, 0] => out.push_str("false"),
            _ => return None,
        },
        TEXT if constlen == -1 && !byval && collation == DEFAULT_COLLATION => {
            // A plain varlena: 4-byte little-endian header, low two bits 0, length above them.
            let [h0, h1, h2, h3, text @ ..] = bytes.as_slice() else {
                return None;
            };
            let header = u32::from_le_bytes([*h0, *h1, *h2, *h3]);
            if header & 3 != 0 || (header >> 2) as usize != len || bytes.len() != len {
                return None;
            }
            // Printable ASCII without backslashes: the same bytes in every server encoding,
            // and no E'' form whatever standard_conforming_strings says.
            if !text
                .iter()
                .all(|c| (b' '..=b'~').contains(c) && *c != b'\\')
            {
                return None;
            }
            out.push('\'');
            for &c in text {
                if c == b'\'' {
                    out.push('\'');
                }
                out.push(c as char);
            }
            out.push_str("'::text");
        }
        _ => return None,
    }
    Some(ty)
}

fn operator(n: &Node, ctx: &Context, out: &mut String, depth: usize) -> Option<u32> {
    let op = ctx.operators.by_oid.get(&n.num::<u32>("opno")?)?;
    let result: u32 = n.num("opresulttype")?;
    let args = n.nodes("args")?;
    let mut printed = Vec::with_capacity(2);
    let mut types = Vec::with_capacity(2);
    for a in &args {
        let mut s = String::new();
        types.push(expr(a, ctx, &mut s, depth + 1)?);
        printed.push(s);
    }
    // Unqualified only when the operator is the one an exact lookup in pg_catalog finds for
    // these argument types.
    match (op.kind, types.as_slice(), printed.as_slice()) {
        ('b', [l, r], [a, b]) if *l == op.left && *r == op.right => {
            out.push_str(&format!("({a} {} {b})", op.name));
        }
        ('l', [r], [a]) if op.left == 0 && *r == op.right => {
            out.push_str(&format!("({} {a})", op.name));
        }
        _ => return None,
    }
    Some(result)
}

fn boolean(n: &Node, ctx: &Context, out: &mut String, depth: usize) -> Option<u32> {
    let args = n.nodes("args")?;
    let joiner = match n.atom("boolop")? {
        b"and" => " AND ",
        b"or" => " OR ",
        b"not" if args.len() == 1 => "",
        _ => return None,
    };
    if args.is_empty() {
        return None;
    }
    out.push('(');
    if joiner.is_empty() {
        out.push_str("NOT ");
    }
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(joiner);
        }
        expr(a, ctx, out, depth + 1)?;
    }
    out.push(')');
    Some(BOOL)
}

fn null_test(n: &Node, ctx: &Context, out: &mut String) -> Option<u32> {
    // A column of a plain base type, never a row: the server then prints IS [NOT] NULL (a row
    // value tested as a scalar would print IS [NOT] DISTINCT FROM NULL).
    if n.flag("argisrow")? {
        return None;
    }
    let Item::Node(arg) = n.one("arg")? else {
        return None;
    };
    let col = column(arg, ctx)?;
    if !col.plain {
        return None;
    }
    let test = match n.num::<i32>("nulltesttype")? {
        0 => "IS NULL",
        1 => "IS NOT NULL",
        _ => return None,
    };
    out.push_str(&format!("({} {test})", quote::ident(&col.name)));
    Some(BOOL)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u32 = 16390;

    fn columns() -> HashMap<(u32, i16), KeyColumn> {
        let col = |name: &str, type_oid: u32, plain: bool| KeyColumn {
            name: name.into(),
            type_oid,
            collation: 0,
            plain,
            category: 'N',
        };
        HashMap::from([
            ((T, 1), col("a", 23, true)),
            ((T, 2), col("b", 20, true)),
            ((T, 3), col("Mixed Col", 25, true)),
            ((T, 4), col("v", 1043, true)),
            ((T, 5), col("flag", 16, true)),
            ((T, 6), col("n", 1700, true)),
            ((T, 7), col("s2", 21, true)),
            ((T, 8), col("r", 16401, false)),
        ])
    }

    fn operators() -> Operators {
        let op = |name: &str, kind: char, left: u32, right: u32| Operator {
            name: name.into(),
            kind,
            left,
            right,
        };
        Operators {
            by_oid: HashMap::from([
                (521, op(">", 'b', 23, 23)),
                (97, op("<", 'b', 23, 23)),
                (96, op("=", 'b', 23, 23)),
                (518, op("<>", 'b', 23, 23)),
                (551, op("+", 'b', 23, 23)),
                (514, op("*", 'b', 23, 23)),
                (558, op("-", 'l', 0, 23)),
                (91, op("=", 'b', 16, 16)),
                (531, op("<>", 'b', 25, 25)),
                (418, op("<", 'b', 20, 23)),
                (419, op(">", 'b', 20, 23)),
                (536, op(">", 'b', 21, 23)),
                (1756, op(">", 'b', 1700, 1700)),
            ]),
        }
    }

    fn run(tree: &str) -> Option<String> {
        let (cols, ops) = (columns(), operators());
        let ctx = Context {
            table_oid: T,
            columns: &cols,
            operators: &ops,
        };
        deparse(tree, &ctx)
    }

    fn var15(attno: i16, ty: u32) -> String {
        format!("{{VAR :varno 1 :varattno {attno} :vartype {ty} :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn {attno} :location 10}}")
    }

    // Trees and the text below as PostgreSQL 10, 15 and 18 stored and printed them
    // (`conbin::text`, `pg_get_constraintdef`/`pg_get_expr` with an empty search_path).

    #[test]
    fn comparison_pg15() {
        assert_eq!(
            run("{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 123} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 127 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 125}").as_deref(),
            Some("(a > 0)")
        );
    }

    #[test]
    fn comparison_pg18() {
        assert_eq!(
            run("{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location -1}").as_deref(),
            Some("(a > 0)")
        );
    }

    #[test]
    fn nested_pg10() {
        // PostgreSQL 10's Vars have varnoold/varoattno, not varnosyn/varattnosyn.
        let cols: HashMap<(u32, i16), KeyColumn> = columns()
            .into_iter()
            .map(|((t, n), c)| match n {
                1 | 2 => ((t, n + 1), c),
                5 => ((t, 6), c),
                _ => ((t, n + 100), c),
            })
            .collect();
        let ops = operators();
        let ctx = Context {
            table_oid: T,
            columns: &cols,
            operators: &ops,
        };
        assert_eq!(
            deparse("{BOOLEXPR :boolop and :args ({OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnoold 1 :varoattno 2 :location 635} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 639 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 637} {BOOLEXPR :boolop or :args ({OPEXPR :opno 418 :opfuncid 476 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 3 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnoold 1 :varoattno 3 :location 646} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 650 :constvalue 4 [ 10 0 0 0 0 0 0 0 ]}) :location 648} {NULLTEST :arg {VAR :varno 1 :varattno 3 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnoold 1 :varoattno 3 :location 656} :nulltesttype 0 :argisrow false :location 658}) :location 653} {BOOLEXPR :boolop not :args ({VAR :varno 1 :varattno 6 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnoold 1 :varoattno 6 :location 675}) :location 671}) :location 641}", &ctx).as_deref(),
            Some("((a > 0) AND ((b < 10) OR (b IS NULL)) AND (NOT flag))")
        );
    }

    #[test]
    fn negative_and_extreme_integers() {
        assert_eq!(
            run("{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 154} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 158 :constvalue 4 [ -5 -1 -1 -1 -1 -1 -1 -1 ]}) :location 156}").as_deref(),
            Some("(a > '-5'::integer)")
        );
        assert_eq!(
            run("{BOOLEXPR :boolop and :args ({OPEXPR :opno 518 :opfuncid 144 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ -1 -1 -1 127 0 0 0 0 ]}) :location -1} {OPEXPR :opno 518 :opfuncid 144 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 0 0 0 -128 -1 -1 -1 -1 ]}) :location -1}) :location -1}").as_deref(),
            Some("((a <> 2147483647) AND (a <> '-2147483648'::integer))")
        );
        assert_eq!(
            run("{OPEXPR :opno 97 :opfuncid 66 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 42} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 46 :constvalue 4 [ -24 3 0 0 0 0 0 0 ]}) :location 44}").as_deref(),
            Some("(a < 1000)")
        );
    }

    #[test]
    fn text_constants() {
        assert_eq!(
            run("{OPEXPR :opno 531 :opfuncid 157 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({VAR :varno 1 :varattno 3 :vartype 25 :vartypmod -1 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 3 :location 186} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 201 :constvalue 8 [ 32 0 0 0 105 116 39 115 ]}) :location 198}").as_deref(),
            Some("(\"Mixed Col\" <> 'it''s'::text)")
        );
        assert_eq!(
            run("{OPEXPR :opno 531 :opfuncid 157 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({VAR :varno 1 :varattno 3 :vartype 25 :vartypmod -1 :varcollid 100 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 3 :location -1} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location -1 :constvalue 4 [ 16 0 0 0 ]}) :location -1}").as_deref(),
            Some("(\"Mixed Col\" <> ''::text)")
        );
        let text = |bytes: &str, len: usize| {
            format!("{{OPEXPR :opno 531 :opfuncid 157 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({} {{CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 201 :constvalue {len} [ {bytes} ]}}) :location 198}}", var15(3, 25))
        };
        assert_eq!(
            run(&text("20 0 0 0 120", 5)).as_deref(),
            Some("(\"Mixed Col\" <> 'x'::text)")
        );
        // Backslash, non-ASCII, control characters, a short header, a wrong length.
        assert_eq!(run(&text("20 0 0 0 92", 5)), None);
        assert_eq!(run(&text("24 0 0 0 -61 -87", 6)), None);
        assert_eq!(run(&text("20 0 0 0 10", 5)), None);
        assert_eq!(run(&text("11 120", 2)), None);
        assert_eq!(run(&text("24 0 0 0 120", 5)), None);
        assert_eq!(run(&text("20 0 0 0 120", 6)), None);
    }

    #[test]
    fn boolean_nesting_null_tests_and_booleans() {
        assert_eq!(
            run("{BOOLEXPR :boolop and :args ({OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 234} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 238 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 236} {BOOLEXPR :boolop or :args ({OPEXPR :opno 418 :opfuncid 476 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 245} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 249 :constvalue 4 [ 10 0 0 0 0 0 0 0 ]}) :location 247} {NULLTEST :arg {VAR :varno 1 :varattno 2 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 255} :nulltesttype 0 :argisrow false :location 257}) :location 252} {BOOLEXPR :boolop not :args ({VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 5 :location 274}) :location 270}) :location 240}").as_deref(),
            Some("((a > 0) AND ((b < 10) OR (b IS NULL)) AND (NOT flag))")
        );
        assert_eq!(
            run("{BOOLEXPR :boolop not :args ({BOOLEXPR :boolop or :args ({OPEXPR :opno 96 :opfuncid 65 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]}) :location -1} {OPEXPR :opno 96 :opfuncid 65 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 2 0 0 0 0 0 0 0 ]}) :location -1}) :location -1}) :location -1}").as_deref(),
            Some("(NOT ((a = 1) OR (a = 2)))")
        );
        assert_eq!(
            run("{NULLTEST :arg {VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1} :nulltesttype 1 :argisrow false :location -1}").as_deref(),
            Some("(a IS NOT NULL)")
        );
        assert_eq!(
            run("{OPEXPR :opno 91 :opfuncid 60 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 5 :location -1} {CONST :consttype 16 :consttypmod -1 :constcollid 0 :constlen 1 :constbyval true :constisnull false :location -1 :constvalue 1 [ 1 0 0 0 0 0 0 0 ]}) :location -1}").as_deref(),
            Some("(flag = true)")
        );
        // A bare column (`CHECK (flag)`).
        assert_eq!(
            run("{VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 5 :location 484}").as_deref(),
            Some("flag")
        );
        // An index predicate (PostgreSQL 18).
        assert_eq!(
            run("{BOOLEXPR :boolop and :args ({OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location -1} {VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 5 :location -1}) :location -1}").as_deref(),
            Some("((a > 0) AND flag)")
        );
    }

    #[test]
    fn nested_and_prefix_operators_and_mixed_types() {
        assert_eq!(
            run("{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({OPEXPR :opno 551 :opfuncid 177 :opresulttype 23 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 613} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 617 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]}) :location 615} {OPEXPR :opno 514 :opfuncid 141 :opresulttype 23 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 621} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 625 :constvalue 4 [ 2 0 0 0 0 0 0 0 ]}) :location 623}) :location 619}").as_deref(),
            Some("((a + 1) > (a * 2))")
        );
        assert_eq!(
            run("{OPEXPR :opno 97 :opfuncid 66 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({OPEXPR :opno 558 :opfuncid 212 :opresulttype 23 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 1 :location -1}) :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 5 0 0 0 0 0 0 0 ]}) :location -1}").as_deref(),
            Some("((- a) < 5)")
        );
        // int8 > int4 and int2 > int4 are operators of their own in pg_catalog.
        assert_eq!(
            run("{OPEXPR :opno 419 :opfuncid 477 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 341} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 345 :constvalue 4 [ 5 0 0 0 0 0 0 0 ]}) :location 343}").as_deref(),
            Some("(b > 5)")
        );
        assert_eq!(
            run("{OPEXPR :opno 536 :opfuncid 162 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 7 :vartype 21 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 7 :location -1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 3 0 0 0 0 0 0 0 ]}) :location -1}").as_deref(),
            Some("(s2 > 3)")
        );
    }

    #[test]
    fn left_to_the_server() {
        for tree in [
            // A user-defined operator (printed OPERATOR(s.>>>)).
            "{OPEXPR :opno 16399 :opfuncid 16398 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 406} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 424 :constvalue 4 [ 3 0 0 0 0 0 0 0 ]}) :location 408}",
            // varchar through a RelabelType.
            "{OPEXPR :opno 531 :opfuncid 157 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({RELABELTYPE :arg {VAR :varno 1 :varattno 4 :vartype 1043 :vartypmod 14 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 4 :location 372} :resulttype 25 :resulttypmod -1 :resultcollid 100 :relabelformat 2 :location -1} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 377 :constvalue 5 [ 20 0 0 0 120 ]}) :location 374}",
            // numeric.
            "{OPEXPR :opno 1756 :opfuncid 1720 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 6 :vartype 1700 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 6 :location 653} {CONST :consttype 1700 :consttypmod -1 :constcollid 0 :constlen -1 :constbyval false :constisnull false :location 657 :constvalue 10 [ 40 0 0 0 -128 -128 1 0 -120 19 ]}) :location 655}",
            // IS NOT FALSE.
            "{BOOLEANTEST :arg {VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varnullingrels (b) :varlevelsup 0 :varreturningtype 0 :varnosyn 1 :varattnosyn 5 :location -1} :booltesttype 3 :location -1}",
            // An operator whose types are not the arguments' (int4 = int4 on an int8 column).
            "{OPEXPR :opno 96 :opfuncid 65 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 2 :constvalue 4 [ 3 0 0 0 0 0 0 0 ]}) :location 3}",
            // A Var of another type than its column's, an unknown column, a system column,
            // an outer Var, another range table entry.
            &var15(1, 20),
            &var15(9, 23),
            "{VAR :varno 1 :varattno -1 :vartype 27 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn -1 :location 1}",
            "{VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 1 :varnosyn 1 :varattnosyn 5 :location 1}",
            "{VAR :varno 2 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 5 :location 1}",
            "{VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varnullingrels (b 1) :varlevelsup 0 :varnosyn 1 :varattnosyn 5 :location 1}",
            // IS NULL on a column of a non-plain type (perhaps a row).
            "{NULLTEST :arg {VAR :varno 1 :varattno 8 :vartype 16401 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 8 :location 1} :nulltesttype 0 :argisrow false :location 2}",
            "{NULLTEST :arg {VAR :varno 1 :varattno 1 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 1} :nulltesttype 0 :argisrow true :location 2}",
            // A null constant, a bool Datum that is neither 0 nor 1, an int4 Datum that is not
            // the sign extension of its low half (big-endian 5).
            "{CONST :consttype 16 :consttypmod -1 :constcollid 0 :constlen 1 :constbyval true :constisnull true :location 1 :constvalue <>}",
            "{CONST :consttype 16 :consttypmod -1 :constcollid 0 :constlen 1 :constbyval true :constisnull false :location 1 :constvalue 1 [ 2 0 0 0 0 0 0 0 ]}",
            "{CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 1 :constvalue 4 [ 0 0 0 0 0 0 0 5 ]}",
            "{CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 1 :constvalue 4 [ 5 0 0 0 ]}",
            // An implicit-AND list, malformed and truncated text, trailing tokens, a repeated
            // field.
            "({VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 5 :location 1})",
            "{VAR :varno 1 :varattno 5 :vartype 16",
            "{VAR :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :location 1} x",
            "{VAR :varno 1 :varno 1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :location 1}",
            "{VAR :varno x1 :varattno 5 :vartype 16 :vartypmod -1 :varcollid 0 :varlevelsup 0 :location 1}",
            "{BOOLEXPR :boolop not :args ()}",
            "{BOOLEXPR :boolop and :args <>}",
            "",
            "}",
            "{",
            "{}",
            "\\",
            "{VAR \\",
        ] {
            assert_eq!(run(tree), None, "{tree}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "(".repeat(100_000);
        assert_eq!(run(&deep), None);
        let mut not = String::new();
        for _ in 0..1000 {
            not.push_str("{BOOLEXPR :boolop not :args (");
        }
        not.push_str(&var15(5, 16));
        for _ in 0..1000 {
            not.push_str(") :location 1}");
        }
        assert_eq!(run(&not), None);
    }

    #[test]
    fn tokens() {
        let mut t = Tokens::new("{A :b (i 1 2) :c \\{x\\ y :d <>}");
        let mut all = Vec::new();
        // A peek before each next changes nothing.
        while let (Some(p), Some(tok)) = (t.peek(), t.next()) {
            assert_eq!(p, tok);
            all.push(String::from_utf8_lossy(tok).into_owned());
        }
        assert_eq!(
            all,
            ["{", "A", ":b", "(", "i", "1", "2", ")", ":c", "\\{x\\ y", ":d", "<>", "}"]
        );
    }
}
