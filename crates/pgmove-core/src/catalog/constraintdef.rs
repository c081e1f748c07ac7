//! Primary key, unique, foreign key and check definitions built from `pg_constraint`'s own
//! columns, as `pg_get_constraintdef(oid)` prints them.
//!
//! For the same reason as `indexdef`: the server's deparser costs cache misses per constraint,
//! while the three kinds of keys are nothing but
//! column lists, a referenced table and a few flags. A check is its expression (printed by
//! `exprdef`, when it can) and two flags. Exclusion constraints, constraint triggers, and on
//! PostgreSQL 18 `WITHOUT OVERLAPS`/`PERIOD` keys and `NOT ENFORCED` foreign keys and checks
//! stay with the server, as does any constraint whose columns or expression this module cannot
//! print.
//! `tests/tests/roundtrip.rs` compares the result with `pg_get_constraintdef` for every
//! constraint of every corpus.

use super::exprdef::{self, Operators};
use super::indexdef::KeyColumn;
use crate::model::{CompactString, KeyDef, References};
use crate::quote;
use std::collections::HashMap;

/// A primary key, unique or foreign key constraint as `pg_constraint` (and, for keys, its
/// index in `pg_index`) describe it.
#[derive(Debug, Clone)]
pub(super) struct RawKey {
    /// `p`, `u` or `f`.
    pub contype: char,
    pub table_oid: u32,
    pub columns: Vec<i16>,
    /// Keys: the index's `INCLUDE` columns.
    pub include: Vec<i16>,
    /// Keys: `indnullsnotdistinct` of the index.
    pub nulls_not_distinct: bool,
    /// Foreign keys: the referenced table, its name qualified and quoted, and its columns.
    pub ref_table: Option<(u32, String)>,
    /// Foreign keys: the referenced table's schema and name.
    pub ref_names: Option<(String, String)>,
    pub ref_columns: Vec<i16>,
    /// `confmatchtype`, `confupdtype`, `confdeltype`.
    pub match_type: char,
    pub on_update: char,
    pub on_delete: char,
    /// `confdelsetcols` (15+): the columns `ON DELETE SET NULL/DEFAULT` sets.
    pub delete_set: Option<Vec<i16>>,
    pub deferrable: bool,
    pub deferred: bool,
    pub validated: bool,
    /// `conperiod` (18+).
    pub period: bool,
}

fn names(table: u32, nums: &[i16], columns: &HashMap<(u32, i16), KeyColumn>) -> Option<String> {
    let mut out = Vec::with_capacity(nums.len());
    for n in nums {
        out.push(quote::ident(&columns.get(&(table, *n))?.name));
    }
    Some(out.join(", "))
}

fn action(code: char) -> Option<Option<&'static str>> {
    Some(match code {
        'a' => None,
        'r' => Some("RESTRICT"),
        'c' => Some("CASCADE"),
        'n' => Some("SET NULL"),
        'd' => Some("SET DEFAULT"),
        _ => return Option::None,
    })
}

/// The columns of `nums` on `table`, by name; `None` when one is not known.
fn name_list(
    table: u32,
    nums: &[i16],
    columns: &HashMap<(u32, i16), KeyColumn>,
) -> Option<Vec<CompactString>> {
    nums.iter()
        .map(|n| columns.get(&(table, *n)).map(|c| c.name.clone()))
        .collect()
}

/// The model's [`KeyDef`] of key or foreign key `c`: its columns by name, what it references;
/// `None` when a column is not known.
pub(super) fn key_def(c: &RawKey, columns: &HashMap<(u32, i16), KeyColumn>) -> Option<KeyDef> {
    if c.columns.is_empty() {
        return None;
    }
    let references = match c.contype {
        'f' => {
            let (ref_oid, _) = c.ref_table.as_ref()?;
            let (schema, table) = c.ref_names.as_ref()?;
            Some(References {
                table_oid: *ref_oid,
                schema: schema.into(),
                table: table.into(),
                columns: name_list(*ref_oid, &c.ref_columns, columns)?,
                match_type: c.match_type,
                on_update: c.on_update,
                on_delete: c.on_delete,
                on_delete_set: name_list(
                    c.table_oid,
                    c.delete_set.as_deref().unwrap_or_default(),
                    columns,
                )?,
            })
        }
        _ => None,
    };
    Some(KeyDef {
        columns: name_list(c.table_oid, &c.columns, columns)?,
        include: name_list(c.table_oid, &c.include, columns)?,
        nulls_not_distinct: c.nulls_not_distinct,
        period: c.period,
        references,
    })
}

/// The definition `pg_get_constraintdef` prints for `c`, or `None` when the server must print
/// it.
pub(super) fn build(c: &RawKey, columns: &HashMap<(u32, i16), KeyColumn>) -> Option<String> {
    if c.columns.is_empty() {
        return None;
    }
    let cols = names(c.table_oid, &c.columns, columns)?;
    let mut def = match c.contype {
        'p' | 'u' => {
            let mut d = String::from(if c.contype == 'p' {
                "PRIMARY KEY "
            } else {
                "UNIQUE "
            });
            if c.nulls_not_distinct {
                d.push_str("NULLS NOT DISTINCT ");
            }
            d.push_str(&format!("({cols})"));
            if !c.include.is_empty() {
                d.push_str(&format!(
                    " INCLUDE ({})",
                    names(c.table_oid, &c.include, columns)?
                ));
            }
            d
        }
        'f' => {
            let (ref_oid, ref_name) = c.ref_table.as_ref()?;
            let mut d = format!(
                "FOREIGN KEY ({cols}) REFERENCES {ref_name}({})",
                names(*ref_oid, &c.ref_columns, columns)?
            );
            match c.match_type {
                'f' => d.push_str(" MATCH FULL"),
                'p' => d.push_str(" MATCH PARTIAL"),
                's' => {}
                _ => return None,
            }
            if let Some(a) = action(c.on_update)? {
                d.push_str(" ON UPDATE ");
                d.push_str(a);
            }
            if let Some(a) = action(c.on_delete)? {
                d.push_str(" ON DELETE ");
                d.push_str(a);
            }
            if let Some(set) = &c.delete_set {
                d.push_str(&format!(" ({})", names(c.table_oid, set, columns)?));
            }
            d
        }
        _ => return None,
    };
    if c.deferrable {
        def.push_str(" DEFERRABLE");
    }
    if c.deferred {
        def.push_str(" INITIALLY DEFERRED");
    }
    if !c.validated {
        def.push_str(" NOT VALID");
    }
    Some(def)
}

/// A check constraint on a table (enforced, not deferrable), as `pg_constraint` describes it.
#[derive(Debug, Clone)]
pub(super) struct RawCheck {
    pub table_oid: u32,
    /// `conbin::text`: the expression's node tree.
    pub tree: String,
    /// `connoinherit`.
    pub no_inherit: bool,
    pub validated: bool,
}

/// The definition `pg_get_constraintdef` prints for check `c`, or `None` when the server must
/// print it.
pub(super) fn build_check(
    c: &RawCheck,
    columns: &HashMap<(u32, i16), KeyColumn>,
    operators: &Operators,
) -> Option<String> {
    let ctx = exprdef::Context {
        table_oid: c.table_oid,
        columns,
        operators,
    };
    let mut def = format!("CHECK ({})", exprdef::deparse(&c.tree, &ctx)?);
    if c.no_inherit {
        def.push_str(" NO INHERIT");
    }
    if !c.validated {
        def.push_str(" NOT VALID");
    }
    Some(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> HashMap<(u32, i16), KeyColumn> {
        let col = |name: &str| KeyColumn {
            name: name.into(),
            type_oid: 23,
            collation: 0,
            plain: true,
            category: 'N',
        };
        HashMap::from([
            ((1, 1), col("id")),
            ((1, 2), col("Order")),
            ((1, 3), col("note")),
            ((2, 1), col("id")),
            ((2, 2), col("t_id")),
        ])
    }

    fn key(contype: char, cols: Vec<i16>) -> RawKey {
        RawKey {
            contype,
            table_oid: 1,
            columns: cols,
            include: vec![],
            nulls_not_distinct: false,
            ref_table: None,
            ref_names: None,
            ref_columns: vec![],
            match_type: 's',
            on_update: 'a',
            on_delete: 'a',
            delete_set: None,
            deferrable: false,
            deferred: false,
            validated: true,
            period: false,
        }
    }

    #[test]
    fn keys() {
        let cols = columns();
        assert_eq!(
            build(&key('p', vec![1, 2]), &cols).unwrap(),
            "PRIMARY KEY (id, \"Order\")"
        );
        let mut u = key('u', vec![2]);
        u.include = vec![3];
        u.nulls_not_distinct = true;
        u.deferrable = true;
        u.deferred = true;
        assert_eq!(
            build(&u, &cols).unwrap(),
            "UNIQUE NULLS NOT DISTINCT (\"Order\") INCLUDE (note) DEFERRABLE INITIALLY DEFERRED"
        );
    }

    #[test]
    fn foreign_keys() {
        let cols = columns();
        let mut f = key('f', vec![2]);
        f.table_oid = 2;
        f.columns = vec![2];
        f.ref_table = Some((1, "app.\"T\"".into()));
        f.ref_columns = vec![1];
        assert_eq!(
            build(&f, &cols).unwrap(),
            "FOREIGN KEY (t_id) REFERENCES app.\"T\"(id)"
        );
        f.match_type = 'f';
        f.on_update = 'c';
        f.on_delete = 'n';
        f.delete_set = Some(vec![2]);
        f.validated = false;
        assert_eq!(
            build(&f, &cols).unwrap(),
            "FOREIGN KEY (t_id) REFERENCES app.\"T\"(id) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL (t_id) NOT VALID"
        );
    }

    #[test]
    fn checks() {
        let cols = columns();
        let ops = Operators {
            by_oid: HashMap::from([(
                521,
                exprdef::Operator {
                    name: ">".into(),
                    kind: 'b',
                    left: 23,
                    right: 23,
                },
            )]),
        };
        let mut c = RawCheck {
            table_oid: 1,
            tree: "{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 23 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 1} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 5 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 3}".into(),
            no_inherit: false,
            validated: true,
        };
        assert_eq!(
            build_check(&c, &cols, &ops).unwrap(),
            "CHECK ((\"Order\" > 0))"
        );
        (c.no_inherit, c.validated) = (true, false);
        assert_eq!(
            build_check(&c, &cols, &ops).unwrap(),
            "CHECK ((\"Order\" > 0)) NO INHERIT NOT VALID"
        );
        c.tree = c.tree.replace(":opno 521", ":opno 522");
        assert!(build_check(&c, &cols, &ops).is_none(), "unknown operator");
    }

    #[test]
    fn left_to_the_server() {
        let cols = columns();
        assert!(build(&key('c', vec![1]), &cols).is_none(), "a check");
        assert!(build(&key('p', vec![9]), &cols).is_none(), "unknown column");
        let mut f = key('f', vec![1]);
        assert!(build(&f, &cols).is_none(), "no referenced table");
        f.ref_table = Some((1, "public.t".into()));
        f.ref_columns = vec![1];
        f.on_delete = '?';
        assert!(build(&f, &cols).is_none(), "unknown action");
    }
}
