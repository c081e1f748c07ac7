//! View definitions compared across majors, through sqlparser.
//!
//! Each server prints a view with its own `pg_get_viewdef`, and the printing changed: since 16,
//! columns of a single-table view are no longer qualified with the table (`t.id` became `id`),
//! and whitespace moves between releases. Text comparison would call every such view different
//! after a 15→16+ migration. Here both sides are parsed and printed back by sqlparser, with
//! column qualifiers dropped where a query reads exactly one table, so only a real change in
//! the query remains a difference. Pure and best-effort: SQL that sqlparser cannot read is
//! compared as text, never called equal by guess.

use sqlparser::ast::{
    visit_expressions_mut, Array, ArrayElemTypeDef, CastKind, DataType, Expr, Query, Select,
    SelectItem, SetExpr, Statement, TableFactor, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// Clauses pgmove's renderer appends that sqlparser does not read; taken out before parsing
/// and named after the canonical text, so they still count.
const SUFFIXES: &[&str] = &[
    "\n  WITH NO DATA",
    "\n  WITH LOCAL CHECK OPTION",
    "\n  WITH CASCADED CHECK OPTION",
];

/// The statements of a view item in a canonical form, or `None` when they do not parse.
pub fn normalize(sql: &str) -> Option<String> {
    // A materialized view's column settings follow its query as ALTER statements: compared
    // as they are, after the canonical query.
    let (sql, settings) = match sql.find("\nALTER MATERIALIZED VIEW ") {
        Some(i) => (&sql[..=i], &sql[i + 1..]),
        None => (sql, ""),
    };
    let mut text = sql.to_string();
    let mut clauses = Vec::new();
    // A matview's access method (`… USING heap2 AS`), which sqlparser does not read.
    let first = text.lines().next().unwrap_or_default();
    if first.starts_with("CREATE MATERIALIZED VIEW ") && first.ends_with(" AS") {
        if let Some(at) = first.rfind(" USING ") {
            let using = first[at + 1..first.len() - " AS".len()].to_string();
            text.replace_range(at..first.len() - " AS".len(), "");
            clauses.push(using);
        }
    }
    for suffix in SUFFIXES {
        if text.contains(suffix) {
            text = text.replace(suffix, "");
            clauses.push(suffix.trim().to_string());
        }
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, &text).ok()?;
    for st in &mut statements {
        if let Statement::CreateView(view) = st {
            unqualify_query(&mut view.query);
        }
        casts_per_element(st);
        let _ = st.visit(&mut UnaliasBranches);
    }
    let mut out = statements
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(";\n");
    for c in &clauses {
        out.push_str("\n-- ");
        out.push_str(c);
    }
    if !settings.is_empty() {
        out.push('\n');
        out.push_str(settings);
    }
    Some(out)
}

fn unqualify_query(q: &mut Query) {
    if let Some(with) = &mut q.with {
        for cte in &mut with.cte_tables {
            unqualify_query(&mut cte.query);
        }
    }
    // ORDER BY, LIMIT, OFFSET and FETCH belong to the query, not to its SELECT: they name
    // the same single table's columns.
    if let SetExpr::Select(select) = q.body.as_mut() {
        if let Some(qualifiers) = unqualify_select(select) {
            let mut strip = Unqualify {
                qualifiers: &qualifiers,
                depth: 0,
            };
            if let Some(o) = &mut q.order_by {
                let _ = o.visit(&mut strip);
            }
            if let Some(l) = &mut q.limit_clause {
                let _ = l.visit(&mut strip);
            }
            if let Some(f) = &mut q.fetch {
                let _ = f.visit(&mut strip);
            }
        }
        return;
    }
    unqualify_set(&mut q.body);
}

fn unqualify_set(s: &mut SetExpr) {
    match s {
        SetExpr::Select(select) => {
            unqualify_select(select);
        }
        SetExpr::Query(q) => unqualify_query(q),
        SetExpr::SetOperation { left, right, .. } => {
            unqualify_set(left);
            unqualify_set(right);
        }
        _ => {}
    }
}

/// Applies [`unalias`] to every set operation of a statement, subqueries included.
struct UnaliasBranches;

impl VisitorMut for UnaliasBranches {
    type Break = ();
    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        // `a UNION b UNION c` nests to the left: every right-hand side down the left spine.
        let mut body = q.body.as_mut();
        while let SetExpr::SetOperation { left, right, .. } = body {
            unalias(right);
            body = left.as_mut();
        }
        ControlFlow::Continue(())
    }
}

/// Output names in a set operation come from its leftmost branch; the others' aliases name
/// nothing. A server re-reading a view adds some (`NULL::integer` in a second branch comes
/// back as `NULL::integer AS int4`), so they are left out on both sides.
fn unalias(s: &mut SetExpr) {
    match s {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::ExprWithAlias { expr, .. } = item {
                    *item = SelectItem::UnnamedExpr(expr.clone());
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            unalias(left);
            unalias(right);
        }
        _ => {}
    }
}

/// `(ARRAY[a, b])::t[]` and `ARRAY[(a)::t, (b)::t]` are the same array: a server re-reading
/// the first (how `x IN ('a', 'b')` over varchar prints) stores the second. Both are spelled
/// as the second, with `(a)::t` as `a::t` (postfix casts bind left to right).
fn casts_per_element<V: VisitMut>(node: &mut V) {
    let _ = visit_expressions_mut(node, |e| {
        if let Expr::Cast {
            kind: CastKind::DoubleColon,
            expr,
            data_type: DataType::Array(ArrayElemTypeDef::SquareBracket(elem_type, None)),
            format: None,
        } = e
        {
            let mut inner = expr.as_ref();
            while let Expr::Nested(n) = inner {
                inner = n;
            }
            if let Expr::Array(Array { elem, named: true }) = inner {
                let elem = elem
                    .iter()
                    .map(|x| Expr::Cast {
                        kind: CastKind::DoubleColon,
                        expr: Box::new(x.clone()),
                        data_type: (**elem_type).clone(),
                        format: None,
                    })
                    .collect();
                *e = Expr::Array(Array { elem, named: true });
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions_mut(node, |e| {
        if let Expr::Cast { expr, .. } = e {
            while let Expr::Nested(n) = expr.as_mut() {
                if !matches!(n.as_ref(), Expr::Cast { .. }) {
                    break;
                }
                let n = (**n).clone();
                **expr = n;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// A table's statements with each `CHECK (…)` expression spelled as `casts_per_element`
/// spells it; the rest of the text untouched. An expression sqlparser cannot read stays as
/// it is.
pub fn normalize_checks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("CHECK (") {
        let open = at + "CHECK ".len();
        out.push_str(&rest[..open]);
        let Some(close) = matching_paren(&rest[open..]) else {
            rest = &rest[open..];
            continue;
        };
        let text = &rest[open..=open + close];
        let parsed = sqlparser::parser::Parser::new(&PostgreSqlDialect {})
            .try_with_sql(text)
            .and_then(|mut p| p.parse_expr());
        match parsed {
            Ok(mut expr) => {
                casts_per_element(&mut expr);
                out.push_str(&expr.to_string());
            }
            Err(_) => out.push_str(text),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Byte offset of the `)` closing the `(` that `s` starts with, skipping quoted text.
fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (i, b) in s.bytes().enumerate() {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'(') => depth += 1,
            (None, b')') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// In a SELECT that reads one table and nothing else (no join, no subquery on another
/// relation), `t.col` and `col` mean the same: print `col`.
/// Drop the qualifier of columns of a SELECT that reads exactly one table (or one subquery)
/// in its own FROM, as 16+ prints it; returns the qualifiers dropped. Sub-selects are left
/// alone: a server prints their columns qualified on every version.
fn unqualify_select(select: &mut Select) -> Option<Vec<String>> {
    let [from] = select.from.as_slice() else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    let mut qualifiers: Vec<String> = Vec::new();
    match &from.relation {
        TableFactor::Table { name, alias, .. } => {
            if let Some(last) = name.0.last() {
                qualifiers.push(last.to_string());
            }
            if let Some(a) = alias {
                qualifiers.push(a.name.to_string());
            }
        }
        // One subquery in FROM is one range table entry too: 16+ drops its alias.
        TableFactor::Derived {
            alias: Some(a),
            lateral: false,
            ..
        } => qualifiers.push(a.name.to_string()),
        _ => return None,
    }
    let _ = select.visit(&mut Unqualify {
        qualifiers: &qualifiers,
        depth: 0,
    });
    Some(qualifiers)
}

/// `q.col` as `col` for the qualifiers given, outside nested queries.
struct Unqualify<'a> {
    qualifiers: &'a [String],
    /// How many queries deep the visit is (0: the SELECT or clause visited).
    depth: usize,
}

impl VisitorMut for Unqualify<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            if let Expr::CompoundIdentifier(parts) = e {
                if parts.len() == 2 && self.qualifiers.contains(&parts[0].to_string()) {
                    *e = Expr::Identifier(parts[1].clone());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_and_sixteen_print_single_table_views_alike() {
        // pg_get_viewdef on 15, then on 16+, of the same view.
        let v15 = "CREATE VIEW public.v AS\n SELECT t.id,\n    t.name\n   FROM public.t\n  WHERE (t.id > 0);\n";
        let v16 =
            "CREATE VIEW public.v AS\n SELECT id,\n    name\n   FROM public.t\n  WHERE (id > 0);\n";
        assert_eq!(normalize(v15), normalize(v16));
        assert!(normalize(v15).is_some());
    }

    #[test]
    fn order_by_limit_and_sub_selects_print_alike_too() {
        // From the regression database: pg_get_viewdef on 15, then on 18.
        let v15 = "CREATE VIEW public.l AS\n SELECT onek.thousand\n   FROM public.onek\n  WHERE (onek.thousand < 995)\n  ORDER BY onek.thousand\n OFFSET 10\n LIMIT 5;\n";
        let v18 = "CREATE VIEW public.l AS\n SELECT thousand\n   FROM public.onek\n  WHERE (thousand < 995)\n  ORDER BY thousand\n OFFSET 10\n LIMIT 5;\n";
        assert!(normalize(v15).is_some());
        assert_eq!(normalize(v15), normalize(v18));
        // A sub-select keeps its qualifiers on every version; the outer query's go from 16.
        let s15 = "CREATE VIEW public.s AS\n SELECT a.id\n   FROM public.a\n  WHERE (EXISTS ( SELECT 1\n           FROM public.b\n          WHERE (b.id = a.id)));\n";
        let s18 = "CREATE VIEW public.s AS\n SELECT id\n   FROM public.a\n  WHERE (EXISTS ( SELECT 1\n           FROM public.b\n          WHERE (b.id = a.id)));\n";
        assert!(normalize(s15).is_some());
        assert_eq!(normalize(s15), normalize(s18));
        assert!(normalize(s18).unwrap().contains("b.id = a.id"));
        // A changed ORDER BY is still a difference.
        let other = v18.replace("ORDER BY thousand", "ORDER BY thousand DESC");
        assert_ne!(normalize(v18), normalize(&other));
    }

    #[test]
    fn a_matview_s_access_method_is_kept_apart_and_still_counts() {
        let m15 = "CREATE MATERIALIZED VIEW public.m USING heap2 AS\n SELECT t.f1\n   FROM public.t\n  WITH NO DATA;\n";
        let m18 = "CREATE MATERIALIZED VIEW public.m USING heap2 AS\n SELECT f1\n   FROM public.t\n  WITH NO DATA;\n";
        assert!(normalize(m15).is_some());
        assert_eq!(normalize(m15), normalize(m18));
        let heap = m18.replace(" USING heap2", " USING heap");
        assert_ne!(normalize(m18), normalize(&heap));
    }

    #[test]
    fn real_changes_and_joins_stay_visible() {
        let a = "CREATE VIEW public.v AS SELECT t.id FROM public.t WHERE (t.id > 0);";
        let b = "CREATE VIEW public.v AS SELECT t.id FROM public.t WHERE (t.id > 1);";
        assert_ne!(normalize(a), normalize(b));
        // Two tables: qualifiers matter and are kept.
        let j = "CREATE VIEW public.v AS SELECT a.id FROM public.a JOIN public.b ON (a.id = b.id);";
        assert!(normalize(j).unwrap().contains("a.id"));
    }

    #[test]
    fn matviews_check_options_and_recursive_views() {
        let m15 = "CREATE MATERIALIZED VIEW s.m AS\n SELECT u.mood,\n    count(*) AS count\n   FROM s.u\n  GROUP BY u.mood\n  WITH NO DATA;\n";
        let m16 = "CREATE MATERIALIZED VIEW s.m AS\n SELECT mood,\n    count(*) AS count\n   FROM s.u\n  GROUP BY mood\n  WITH NO DATA;\n";
        assert_eq!(normalize(m15), normalize(m16));
        assert!(normalize(m15).unwrap().ends_with("-- WITH NO DATA"));
        let c = "CREATE VIEW s.v AS\n SELECT u.id\n   FROM s.u\n  WITH LOCAL CHECK OPTION;\n";
        let d = "CREATE VIEW s.v AS\n SELECT u.id\n   FROM s.u\n  WITH CASCADED CHECK OPTION;\n";
        assert_ne!(normalize(c), normalize(d));
        let r15 = "CREATE VIEW s.c AS\n WITH RECURSIVE c(n) AS (SELECT 3 UNION ALL SELECT (c_1.n - 1) FROM c c_1 WHERE (c_1.n > 0))\n SELECT c.n\n   FROM c;\n";
        let r16 = "CREATE VIEW s.c AS\n WITH RECURSIVE c(n) AS (SELECT 3 UNION ALL SELECT (c_1.n - 1) FROM c c_1 WHERE (c_1.n > 0))\n SELECT n\n   FROM c;\n";
        assert_eq!(normalize(r15), normalize(r16));
    }

    #[test]
    fn a_single_subquery_in_from_is_unqualified_as_16_prints_it() {
        let v15 = "CREATE VIEW s.e AS\n SELECT q.a\n   FROM ( SELECT t.a\n           FROM s.t\n        UNION ALL\n         SELECT u.a\n           FROM s.u) q;\n";
        let v18 = "CREATE VIEW s.e AS\n SELECT a\n   FROM ( SELECT t.a\n           FROM s.t\n        UNION ALL\n         SELECT u.a\n           FROM s.u) q;\n";
        assert_eq!(normalize(v15), normalize(v18));
        let m15 = "CREATE MATERIALIZED VIEW s.m AS\n SELECT u.mood\n   FROM s.u\n  WITH NO DATA;\nALTER MATERIALIZED VIEW s.m ALTER COLUMN mood SET STATISTICS 321;\n";
        let m18 = "CREATE MATERIALIZED VIEW s.m AS\n SELECT mood\n   FROM s.u\n  WITH NO DATA;\nALTER MATERIALIZED VIEW s.m ALTER COLUMN mood SET STATISTICS 321;\n";
        assert_eq!(normalize(m15), normalize(m18));
        assert_ne!(normalize(m15), normalize(&m18.replace("321", "322")));
    }

    #[test]
    fn what_a_server_stores_on_rereading_compares_equal() {
        // pg_get_viewdef of a view, and of the same view re-created from that text (15).
        let first = "CREATE VIEW s.e AS\n SELECT q.a\n   FROM ( SELECT t.a\n           FROM s.t\n        UNION ALL\n         SELECT NULL::integer\n           FROM s.u) q;\n";
        let again = "CREATE VIEW s.e AS\n SELECT q.a\n   FROM ( SELECT t.a\n           FROM s.t\n        UNION ALL\n         SELECT NULL::integer AS int4\n           FROM s.u) q;\n";
        assert_eq!(normalize(first), normalize(again));
        // The leftmost branch names the columns: its aliases still count.
        let named = "CREATE VIEW s.e AS SELECT t.a AS b FROM s.t UNION ALL SELECT 1 FROM s.u;";
        let unnamed = "CREATE VIEW s.e AS SELECT t.a FROM s.t UNION ALL SELECT 1 FROM s.u;";
        assert_ne!(normalize(named), normalize(unnamed));
        let three = "CREATE VIEW s.e AS SELECT 1 AS a UNION SELECT 2 AS x UNION SELECT 3 AS y;";
        let bare = "CREATE VIEW s.e AS SELECT 1 AS a UNION SELECT 2 UNION SELECT 3;";
        assert_eq!(normalize(three), normalize(bare));

        let c1 = "CREATE TABLE s.t (\n    k character varying(50),\n    CONSTRAINT ok CHECK (((k)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))\n);\n";
        let c2 = "CREATE TABLE s.t (\n    k character varying(50),\n    CONSTRAINT ok CHECK (((k)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text])))\n);\n";
        assert_ne!(c1, c2);
        assert_eq!(normalize_checks(c1), normalize_checks(c2));
        let c3 = c2.replace("'b'", "'c'");
        assert_ne!(normalize_checks(c1), normalize_checks(&c3));
        assert!(normalize_checks(c1).starts_with(
            "CREATE TABLE s.t (\n    k character varying(50),\n    CONSTRAINT ok CHECK ("
        ));
    }
}
