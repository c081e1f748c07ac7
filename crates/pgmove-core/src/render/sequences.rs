//! Sequences: `CREATE SEQUENCE`, `OWNED BY`, and the `setval` that carries their state.

use super::{comment, owner, push, render_acl, Item, Kind, Options};
use crate::model::{class, Catalog, ObjRef, Sequence};
use crate::quote::{ident, literal, qualified};

pub(super) fn render(cat: &Catalog, opts: &Options, items: &mut Vec<Item>) {
    for s in &cat.sequences {
        let me = ObjRef::new(class::PG_CLASS, s.oid);
        if cat.extension_members.contains(&me) {
            continue;
        }
        let name = qualified(&s.schema, &s.name);
        if s.identity {
            // Created by its identity column; only its comment and privileges are its own.
            let sql = comment_and_privileges(cat, opts, s, &name);
            if !sql.is_empty() {
                push(
                    items,
                    Item::new(
                        Kind::Acl,
                        format!("privileges on sequence {name}"),
                        &s.schema,
                        sql,
                    )
                    .after(me),
                );
            }
            continue;
        }
        let unlogged = if s.unlogged { "UNLOGGED " } else { "" };
        let mut sql = format!("CREATE {unlogged}SEQUENCE {name}\n{};\n", options(s));
        sql += &owner(opts, || format!("SEQUENCE {name}"), &s.owner);
        sql += &comment_and_privileges(cat, opts, s, &name);
        push(
            items,
            Item::new(Kind::Sequence, format!("sequence {name}"), &s.schema, sql).provides(me),
        );
        if let Some(o) = &s.owned_by {
            push(
                items,
                Item::new(
                    Kind::SequenceOwnedBy,
                    format!("sequence {name} owned by"),
                    &s.schema,
                    format!(
                        "ALTER SEQUENCE {name} OWNED BY {}.{};\n",
                        qualified(&o.schema, &o.table),
                        ident(&o.column)
                    ),
                )
                .after(me)
                .after(ObjRef::new(class::PG_CLASS, o.table_oid))
                .on_table(o.table_oid),
            );
        }
    }
}

fn comment_and_privileges(cat: &Catalog, opts: &Options, s: &Sequence, name: &str) -> String {
    let what = || format!("SEQUENCE {name}");
    let mut sql = comment(cat, class::PG_CLASS, s.oid, 0, what);
    if opts.privileges && s.acl.is_some() {
        sql += &render_acl("SEQUENCE", &what(), s.acl.as_deref(), &s.owner, None);
    }
    sql
}

/// The option lines of `CREATE SEQUENCE` (also used inside an identity column's clause), each
/// indented by four spaces, without a final newline.
pub(super) fn options(s: &Sequence) -> String {
    let mut o = Vec::with_capacity(7);
    if s.type_name != "bigint" {
        o.push(format!("AS {}", s.type_name));
    }
    o.extend(bounds(s));
    o.iter()
        .map(|option| format!("    {option}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sequence's options but its type, one an entry: what an identity column's
/// `GENERATED … AS IDENTITY (…)` lists (its type is the column's).
pub(super) fn bounds(s: &Sequence) -> Vec<String> {
    let mut o = vec![
        format!("START WITH {}", s.start),
        format!("INCREMENT BY {}", s.increment),
        format!("MINVALUE {}", s.min),
        format!("MAXVALUE {}", s.max),
        format!("CACHE {}", s.cache),
    ];
    if s.cycle {
        o.push("CYCLE".to_string());
    }
    o
}

/// The state of one sequence after `margin` more steps in its direction, kept inside its bounds.
pub fn advanced(s: &Sequence, margin: i64) -> Option<(i64, bool)> {
    let last = s.last_value?;
    if margin == 0 {
        return Some((last, s.is_called));
    }
    let v = last.saturating_add(margin.saturating_mul(s.increment));
    Some((v.clamp(s.min, s.max), s.is_called))
}

/// `SELECT setval(…)` for every sequence whose state is known, identity ones included.
/// Re-running them is harmless: setval sets, it does not add.
pub fn setval_items(cat: &Catalog, margin: i64) -> Vec<Item> {
    cat.sequences
        .iter()
        .filter(|s| {
            !cat.extension_members
                .contains(&ObjRef::new(class::PG_CLASS, s.oid))
        })
        .filter_map(|s| {
            let (value, called) = advanced(s, margin)?;
            let name = qualified(&s.schema, &s.name);
            Some(
                Item::new(
                    Kind::SequenceSet,
                    format!(
                        "sequence {name} = {value}{}",
                        if called { "" } else { " (not called)" }
                    ),
                    &s.schema,
                    format!(
                        "SELECT pg_catalog.setval({}, {value}, {called});\n",
                        literal(&name)
                    ),
                )
                .after(ObjRef::new(class::PG_CLASS, s.oid)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(last: i64, inc: i64, called: bool) -> Sequence {
        Sequence {
            oid: 1,
            schema: "public".into(),
            name: "Odd Seq".into(),
            type_name: "integer".into(),
            start: 1,
            increment: inc,
            min: -100,
            max: 100,
            cache: 1,
            cycle: false,
            owned_by: None,
            identity: false,
            last_value: Some(last),
            is_called: called,
            unlogged: false,
            acl: None,
            owner: "postgres".into(),
        }
    }

    #[test]
    fn options_list_the_type_then_the_bounds() {
        let mut s = seq(5, 2, true);
        s.cycle = true;
        assert_eq!(
            options(&s),
            "    AS integer\n    START WITH 1\n    INCREMENT BY 2\n    MINVALUE -100\n    \
             MAXVALUE 100\n    CACHE 1\n    CYCLE"
        );
        assert_eq!(bounds(&s)[0], "START WITH 1");
        s.type_name = "bigint".into();
        assert!(options(&s).starts_with("    START WITH 1\n"));
    }

    #[test]
    fn margin_moves_in_direction_and_clamps() {
        assert_eq!(advanced(&seq(10, 1, true), 5), Some((15, true)));
        assert_eq!(advanced(&seq(10, -2, true), 5), Some((0, true)));
        assert_eq!(advanced(&seq(99, 1, true), 5), Some((100, true)));
        assert_eq!(advanced(&seq(1, 1, false), 0), Some((1, false)));
    }

    #[test]
    fn setval_quotes_name() {
        let cat = Catalog {
            sequences: vec![seq(42, 1, true)],
            ..Default::default()
        };
        let items = setval_items(&cat, 0);
        assert_eq!(
            items[0].sql,
            "SELECT pg_catalog.setval('public.\"Odd Seq\"', 42, true);\n"
        );
    }
}
