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
    visit_expressions_mut, visit_relations, Expr, Query, Select, SetExpr, Statement, TableFactor,
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
    let mut text = sql.to_string();
    let mut clauses = Vec::new();
    for suffix in SUFFIXES {
        if text.contains(suffix) {
            text = text.replace(suffix, "");
            clauses.push(suffix.trim());
        }
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, &text).ok()?;
    for st in &mut statements {
        if let Statement::CreateView(view) = st {
            unqualify_query(&mut view.query);
        }
    }
    let mut out = statements
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(";\n");
    for c in clauses {
        out.push_str("\n-- ");
        out.push_str(c);
    }
    Some(out)
}

fn unqualify_query(q: &mut Query) {
    if let Some(with) = &mut q.with {
        for cte in &mut with.cte_tables {
            unqualify_query(&mut cte.query);
        }
    }
    unqualify_set(&mut q.body);
}

fn unqualify_set(s: &mut SetExpr) {
    match s {
        SetExpr::Select(select) => unqualify_select(select),
        SetExpr::Query(q) => unqualify_query(q),
        SetExpr::SetOperation { left, right, .. } => {
            unqualify_set(left);
            unqualify_set(right);
        }
        _ => {}
    }
}

/// In a SELECT that reads one table and nothing else (no join, no subquery on another
/// relation), `t.col` and `col` mean the same: print `col`.
fn unqualify_select(select: &mut Select) {
    let mut relations = 0;
    let _ = visit_relations(&*select, |_| {
        relations += 1;
        ControlFlow::<()>::Continue(())
    });
    let [from] = select.from.as_slice() else {
        return;
    };
    if relations != 1 || !from.joins.is_empty() {
        return;
    }
    let TableFactor::Table { name, alias, .. } = &from.relation else {
        return;
    };
    let mut qualifiers: Vec<String> = Vec::new();
    if let Some(last) = name.0.last() {
        qualifiers.push(last.to_string());
    }
    if let Some(a) = alias {
        qualifiers.push(a.name.to_string());
    }
    let _ = visit_expressions_mut(select, |e| {
        if let Expr::CompoundIdentifier(parts) = e {
            if parts.len() == 2 && qualifiers.contains(&parts[0].to_string()) {
                *e = Expr::Identifier(parts[1].clone());
            }
        }
        ControlFlow::<()>::Continue(())
    });
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
}
