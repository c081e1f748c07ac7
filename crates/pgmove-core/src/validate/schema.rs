//! Schema comparison: every object's rendered SQL on both sides, keyed by kind and name.
//!
//! What pgmove would create from each catalog is the fairest picture of it: the renderers already
//! carry bodies, settings, defaults, constraints, grants and comments. Two catalogs are equal when
//! every `(kind, name)` renders the same SQL on both sides. Pure: items in, differences out. It
//! must never key by OID (OIDs differ between servers) and never query a server.

use crate::model::Catalog;
use crate::render::{self, Item, Kind};
use serde::Serialize;
use std::collections::BTreeMap;

/// How one object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// On the source, not on the target.
    Missing,
    /// On the target, not on the source.
    Extra,
    /// On both, with different definitions.
    Different,
}

/// One object that is not the same on both sides, with each side's SQL.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SchemaDiff {
    pub kind: Kind,
    /// As the renderers name it, e.g. `index public.film_title`.
    pub object: String,
    pub status: Status,
    pub source: Option<String>,
    pub target: Option<String>,
}

/// Compare two catalogs: render both with `opts` and diff the items each side's `keep` accepts.
/// Returns the differences and the number of source objects compared.
pub fn diff(
    source: &Catalog,
    target: &Catalog,
    opts: &render::Options,
    keep_source: &dyn Fn(&Item) -> bool,
    keep_target: &dyn Fn(&Item) -> bool,
) -> (Vec<SchemaDiff>, usize) {
    let src: Vec<Item> = render::all(source, opts)
        .into_iter()
        .filter(|i| keep_source(i))
        .collect();
    let tgt: Vec<Item> = render::all(target, opts)
        .into_iter()
        .filter(|i| keep_target(i))
        .collect();
    // Items that only set an owner are not compared (see `without_owner`), nor counted.
    let compared = src
        .iter()
        .filter(|i| !without_owner(&i.sql).is_empty())
        .count();
    (diff_items(&src, &tgt), compared)
}

/// Compare two lists of rendered items by `(kind, name)`, in kind then name order.
pub fn diff_items(source: &[Item], target: &[Item]) -> Vec<SchemaDiff> {
    let (a, b) = (by_key(source), by_key(target));
    let mut out = Vec::new();
    for ((kind, name), (cmp, sql)) in &a {
        match b.get(&(*kind, name.clone())) {
            None => out.push(SchemaDiff {
                kind: *kind,
                object: name.clone(),
                status: Status::Missing,
                source: Some(sql.clone()),
                target: None,
            }),
            Some((t_cmp, t)) if t_cmp != cmp => out.push(SchemaDiff {
                kind: *kind,
                object: name.clone(),
                status: Status::Different,
                source: Some(sql.clone()),
                target: Some(t.clone()),
            }),
            Some(_) => {}
        }
    }
    for ((kind, name), (_, sql)) in &b {
        if !a.contains_key(&(*kind, name.clone())) {
            out.push(SchemaDiff {
                kind: *kind,
                object: name.clone(),
                status: Status::Extra,
                source: None,
                target: Some(sql.clone()),
            });
        }
    }
    out.sort_by(|x, y| (x.kind, &x.object).cmp(&(y.kind, &y.object)));
    out
}

/// Items keyed by kind and name, each with its SQL as compared (see [`normalize`]) and as
/// rendered; two items of one key (none today) are joined in a stable order.
fn by_key(items: &[Item]) -> BTreeMap<(Kind, String), (String, String)> {
    let mut m: BTreeMap<(Kind, String), Vec<&str>> = BTreeMap::new();
    for i in items {
        m.entry((i.kind, i.name.to_string()))
            .or_default()
            .push(&i.sql);
    }
    m.into_iter()
        .filter_map(|((kind, name), mut v)| {
            v.sort_unstable();
            let sql = without_owner(&v.concat());
            // An item that only set the owner (of the initdb-made `public` schema, say).
            if sql.is_empty() {
                return None;
            }
            let cmp = normalize(kind, &name, &sql);
            Some(((kind, name), (cmp, sql)))
        })
        .collect()
}

/// What two majors' deparsers spell differently for the same object, spelled one way: a view
/// as sqlparser prints it back (see [`super::viewdef`]); a
/// trigger's `EXECUTE PROCEDURE` (before 11) is `EXECUTE FUNCTION`; a range type's default
/// multirange name (14+, `…range` → `…multirange`) is left out, as older servers have none.
pub fn normalize(kind: Kind, name: &str, sql: &str) -> String {
    match kind {
        Kind::Type => {
            let range = name.trim_start_matches("type ");
            let default = if range.ends_with("range") || range.ends_with("range\"") {
                let i = range.rfind("range").unwrap_or(range.len());
                format!("{}multi{}", &range[..i], &range[i..])
            } else {
                format!("{range}_multirange")
            };
            let line = format!("    multirange_type_name = {default},\n");
            sql.replace(&line, "")
        }
        // Parsed and printed back with single-table qualifiers dropped: 16 stopped printing
        // them. What sqlparser cannot read stays as it is.
        Kind::View | Kind::ViewDefinition | Kind::ViewRedefinition => {
            super::viewdef::normalize(sql).unwrap_or_else(|| sql.to_string())
        }
        // A materialized view that relies on a key, created in post-data: a view all the same.
        Kind::PostponedDefinition if name.starts_with("materialized view ") => {
            super::viewdef::normalize(sql).unwrap_or_else(|| sql.to_string())
        }
        // An ICU locale in the old `lang@key=value;…` form is stored as a BCP 47 tag from 16.
        Kind::Collation => icu_locale_as_tag(sql),
        // CHECK expressions as a server stores them when it reads their printed form again.
        Kind::Table | Kind::Constraint => super::viewdef::normalize_checks(sql),
        Kind::Trigger | Kind::EventTrigger => sql
            .replace(" EXECUTE PROCEDURE ", " EXECUTE FUNCTION ")
            .replace("\nEXECUTE PROCEDURE ", "\nEXECUTE FUNCTION "),
        _ => sql.to_string(),
    }
}

/// An item rendered with its owner (`ALTER … OWNER TO role;`), without that line and without
/// `REVOKE ALL ON … FROM role;` for the same role. A migration without owners (-O, pgmove's
/// and pg_dump's) gives the object another owner, so what the source's privileges say of
/// their owner cannot hold on the target: the owner's other grants are kept (they become
/// the role's own), but a revoke of everything from a role that is no longer the owner
/// leaves no trace. Rendered without owners, that revoke is the one line where a faithful
/// copy differs; it must not count. Never drops a line of the object's definition.
fn without_owner(sql: &str) -> String {
    let owners: Vec<&str> = sql
        .lines()
        .filter(|l| l.starts_with("ALTER "))
        .filter_map(|l| l.strip_suffix(';')?.rsplit_once(" OWNER TO "))
        .map(|(_, role)| role)
        .collect();
    if owners.is_empty() {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    for line in sql.split_inclusive('\n') {
        let l = line.trim_end_matches('\n');
        let owner_line = l.starts_with("ALTER ")
            && owners
                .iter()
                .any(|o| l.ends_with(&format!(" OWNER TO {o};")));
        let revoke_from_owner = l.starts_with("REVOKE ALL ON ")
            && owners.iter().any(|o| l.ends_with(&format!(" FROM {o};")));
        if !owner_line && !revoke_from_owner {
            out.push_str(line);
        }
    }
    out
}

/// `locale = 'lang@colKey=value;…'` (ICU's old keyword form, kept as given before 16) spelled
/// as the BCP 47 tag 16+ stores for it (`lang-u-kk-vv…`, keys in order), so the two servers'
/// texts compare equal. Keywords it does not know leave the text as it is.
fn icu_locale_as_tag(sql: &str) -> String {
    const KEY: &str = "locale = '";
    let Some(start) = sql.find(KEY).map(|i| i + KEY.len()) else {
        return sql.to_string();
    };
    let Some(len) = sql[start..].find('\'') else {
        return sql.to_string();
    };
    let locale = &sql[start..start + len];
    let Some((lang, keywords)) = locale.split_once('@') else {
        return sql.to_string();
    };
    let mut parts = Vec::new();
    for kv in keywords.split(';').filter(|p| !p.is_empty()) {
        let Some((k, v)) = kv.split_once('=') else {
            return sql.to_string();
        };
        let key = match k {
            "colAlternate" => "ka",
            "colBackwards" => "kb",
            "colCaseLevel" => "kc",
            "colCaseFirst" => "kf",
            "colHiraganaQuaternary" => "kh",
            "colNormalization" => "kk",
            "colNumeric" => "kn",
            "colStrength" => "ks",
            _ => return sql.to_string(),
        };
        let value = match v {
            "yes" => "true",
            "no" => "false",
            "primary" => "level1",
            "secondary" => "level2",
            "tertiary" => "level3",
            "quaternary" => "level4",
            "identical" => "identic",
            "non-ignorable" => "noignore",
            other => other,
        };
        parts.push(format!("{key}-{value}"));
    }
    parts.sort();
    let lang = if lang.is_empty() || lang == "root" {
        "und"
    } else {
        lang
    };
    let tag = format!("{}-u-{}", lang.replace('_', "-"), parts.join("-"));
    format!("{}{tag}{}", &sql[..start], &sql[start + len..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_a_source_says_of_its_owner_does_not_count() {
        let source = "CREATE TABLE s.t (\n);\nALTER TABLE s.t OWNER TO app;\nREVOKE ALL ON TABLE s.t FROM app;\nGRANT SELECT ON TABLE s.t TO app;\nREVOKE ALL ON TABLE s.t FROM other;\n";
        let target = "CREATE TABLE s.t (\n);\nALTER TABLE s.t OWNER TO postgres;\nGRANT SELECT ON TABLE s.t TO app;\nREVOKE ALL ON TABLE s.t FROM other;\n";
        assert_eq!(super::without_owner(source), super::without_owner(target));
        assert_eq!(
            super::without_owner(target),
            "CREATE TABLE s.t (\n);\nGRANT SELECT ON TABLE s.t TO app;\nREVOKE ALL ON TABLE s.t FROM other;\n"
        );
        // Without an owner line nothing is dropped.
        let plain = "REVOKE ALL ON TABLE s.t FROM app;\n";
        assert_eq!(super::without_owner(plain), plain);
    }

    #[test]
    fn an_old_icu_locale_compares_as_the_tag_a_newer_server_stores() {
        let v15 = "CREATE COLLATION s.c (provider = icu, locale = '@colCaseFirst=lower;colNumeric=yes');\n";
        let v18 = "CREATE COLLATION s.c (provider = icu, locale = 'und-u-kf-lower-kn-true');\n";
        assert_eq!(super::icu_locale_as_tag(v15), v18);
        assert_eq!(super::icu_locale_as_tag(v18), v18);
        let odd = "CREATE COLLATION s.c (provider = icu, locale = 'de@collation=phonebook');\n";
        assert_eq!(super::icu_locale_as_tag(odd), odd);
    }

    use super::*;

    fn item(kind: Kind, name: &str, sql: &str) -> Item {
        Item {
            kind,
            name: name.into(),
            schema: "public".into(),
            sql: sql.into(),
            provides: Default::default(),
            after: Default::default(),
            table: None,
            lead: None,
        }
    }

    #[test]
    fn missing_extra_and_different_are_named_with_both_sides() {
        let src = vec![
            item(Kind::Index, "index public.a", "CREATE INDEX a …;\n"),
            item(Kind::Function, "function public.f()", "BEGIN 1 END"),
            item(Kind::Table, "table public.t", "CREATE TABLE t ();\n"),
        ];
        let tgt = vec![
            item(Kind::Function, "function public.f()", "BEGIN 2 END"),
            item(Kind::Table, "table public.t", "CREATE TABLE t ();\n"),
            item(
                Kind::Trigger,
                "trigger x on public.t",
                "CREATE TRIGGER x …;\n",
            ),
        ];
        let d = diff_items(&src, &tgt);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(d[0].object, "function public.f()");
        assert_eq!(d[0].status, Status::Different);
        assert_eq!(d[0].source.as_deref(), Some("BEGIN 1 END"));
        assert_eq!(d[0].target.as_deref(), Some("BEGIN 2 END"));
        assert_eq!(
            (d[1].status, d[1].object.as_str()),
            (Status::Missing, "index public.a")
        );
        assert_eq!(d[2].status, Status::Extra);
        assert!(d[2].source.is_none());
    }

    #[test]
    fn execute_procedure_of_old_servers_equals_execute_function() {
        let a = [item(
            Kind::Trigger,
            "trigger t on x",
            "CREATE TRIGGER t … FOR EACH ROW EXECUTE PROCEDURE f();\n",
        )];
        let b = [item(
            Kind::Trigger,
            "trigger t on x",
            "CREATE TRIGGER t … FOR EACH ROW EXECUTE FUNCTION f();\n",
        )];
        assert!(diff_items(&a, &b).is_empty());
        let c = [item(
            Kind::Trigger,
            "trigger t on x",
            "CREATE TRIGGER t … FOR EACH ROW EXECUTE FUNCTION g();\n",
        )];
        assert_eq!(diff_items(&a, &c).len(), 1);
    }

    #[test]
    fn default_multirange_name_of_14_is_left_out() {
        let old = "CREATE TYPE s.floatrange AS RANGE (\n    subtype = double precision\n);\n";
        let new = "CREATE TYPE s.floatrange AS RANGE (\n    multirange_type_name = s.floatmultirange,\n    subtype = double precision\n);\n";
        let odd = "CREATE TYPE s.floatrange AS RANGE (\n    multirange_type_name = s.other,\n    subtype = double precision\n);\n";
        let a = [item(Kind::Type, "type s.floatrange", old)];
        assert!(diff_items(&a, &[item(Kind::Type, "type s.floatrange", new)]).is_empty());
        assert_eq!(
            diff_items(&a, &[item(Kind::Type, "type s.floatrange", odd)]).len(),
            1
        );
    }

    #[test]
    fn equal_lists_in_any_order_have_no_difference() {
        let a = vec![
            item(Kind::Table, "table t", "x"),
            item(Kind::View, "view v", "y"),
        ];
        let b: Vec<Item> = a.iter().rev().cloned().collect();
        assert!(diff_items(&a, &b).is_empty());
    }

    #[test]
    fn catalogs_compare_by_name_not_oid() {
        use crate::model::{Column, Table};
        let table = |oid: u32, default: &str| Table {
            oid,
            schema: "public".into(),
            name: "t".into(),
            relkind: 'r',
            persistence: 'p',
            columns: vec![Column {
                num: 1,
                name: "a".into(),
                ty: std::sync::Arc::new(crate::model::ColumnType {
                    oid: 23,
                    schema: "pg_catalog".into(),
                    name: "int4".into(),
                    kind: 'b',
                    typmod: -1,
                    dims: 0,
                    rendered: "integer".into(),
                }),
                not_null: false,
                default: Some(default.into()),
                attrdef_oid: Some(oid + 1),
                generated: None,
                identity: None,
                is_local: true,
                inh_count: 0,
                extra: None,
            }],
            replica_identity: 'd',
            rls_enabled: false,
            rls_forced: false,
            owner: "postgres".into(),
            est_rows: 0.0,
            size_bytes: 0,
            extra: None,
        };
        let s = Catalog {
            tables: vec![table(16384, "1")],
            ..Default::default()
        };
        let same = Catalog {
            tables: vec![table(20000, "1")],
            ..Default::default()
        };
        let changed = Catalog {
            tables: vec![table(20000, "2")],
            ..Default::default()
        };
        let all = |_: &Item| true;
        let opts = render::Options::default();
        assert!(diff(&s, &same, &opts, &all, &all).0.is_empty());
        let (d, _) = diff(&s, &changed, &opts, &all, &all);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].object, "table public.t");
        assert!(d[0].target.as_deref().unwrap().contains("DEFAULT 2"));
    }
}
