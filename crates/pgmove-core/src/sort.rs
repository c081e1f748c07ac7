//! Dependency order: `pg_depend` edges plus a per-kind priority, as `pg_dump_sort.c` does.
//!
//! Items are emitted in a topological order of their dependencies; among the items that are
//! ready, the one with the lowest [`Kind`] (then schema, then name) goes first, so the output is
//! deterministic and reads like pg_dump's. Dependencies come from `pg_depend`, with each catalog
//! object resolved to the item that creates it (a rowtype to its table, a column default to its
//! table or its detached `SET DEFAULT`, a view's rule to the view), and from each item's
//! explicit `after` list. Known cycles are broken before sorting (column defaults that call user
//! functions are detached by the renderer; sequence `OWNED BY` is its own item); a cycle left
//! over is broken by emitting its lowest-priority member first, with a warning.

use crate::model::{class, Catalog, ObjRef};
use crate::render::{Item, Kind};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// For each item, the items it must follow: its `after` list and the `pg_depend` edges between
/// what the items create, each catalog object resolved to the item that creates it (or, through
/// [`Catalog::owners`], to the item that creates what owns it). Shared by the sort and the
/// filters (which leave out what depends on an excluded item).
pub(crate) fn dependencies(cat: &Catalog, items: &[Item]) -> Vec<HashSet<usize>> {
    let mut provider: HashMap<ObjRef, usize> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        for p in &it.provides {
            provider.entry(*p).or_insert(i);
        }
    }
    let resolve = |mut r: ObjRef| -> Option<usize> {
        for _ in 0..8 {
            if let Some(&i) = provider.get(&r) {
                return Some(i);
            }
            r = *cat.owners.get(&r)?;
        }
        None
    };

    let mut deps: Vec<HashSet<usize>> = vec![HashSet::new(); items.len()];
    for (i, it) in items.iter().enumerate() {
        for a in &it.after {
            if let Some(j) = resolve(*a) {
                if j != i {
                    deps[i].insert(j);
                }
            }
        }
    }
    for d in &cat.depends {
        let (Some(a), Some(b)) = (resolve(d.obj), resolve(d.refobj)) else {
            continue;
        };
        if a == b || items[a].kind == Kind::ShellType {
            continue;
        }
        // A sequence OWNED BY a column depends on its table, and the table's default on the
        // sequence: the ownership is a separate item, so drop that edge here.
        if items[a].kind == Kind::Sequence
            && d.deptype == 'a'
            && d.refobj.class == class::PG_CLASS
            && d.ref_sub > 0
        {
            continue;
        }
        deps[a].insert(b);
    }
    deps
}

/// Items in dependency order, and a warning for each cycle that had to be broken.
pub fn order(cat: &Catalog, items: Vec<Item>) -> (Vec<Item>, Vec<String>) {
    let n = items.len();
    let deps = dependencies(cat, &items);
    let mut waiting_on: Vec<usize> = deps.iter().map(HashSet::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &j in ds {
            dependents[j].push(i);
        }
    }
    let key = |i: usize| {
        let it = &items[i];
        Reverse((it.kind, it.schema.clone(), it.name.clone(), i))
    };
    let mut ready: BinaryHeap<_> = (0..n).filter(|&i| waiting_on[i] == 0).map(key).collect();
    let mut done = vec![false; n];
    let mut out_idx = Vec::with_capacity(n);
    let mut warnings = Vec::new();
    while out_idx.len() < n {
        let next = match ready.pop() {
            Some(Reverse((_, _, _, i))) => i,
            None => {
                // A cycle: emit its lowest-priority member anyway and say so.
                let i = (0..n)
                    .filter(|&i| !done[i])
                    .min_by_key(|&i| {
                        (
                            items[i].kind,
                            items[i].schema.clone(),
                            items[i].name.clone(),
                        )
                    })
                    .expect("items remain");
                warnings.push(format!(
                    "dependency cycle through {}; emitted before {} of its dependencies",
                    items[i].name, waiting_on[i]
                ));
                waiting_on[i] = 0;
                i
            }
        };
        if done[next] {
            continue;
        }
        done[next] = true;
        out_idx.push(next);
        for &d in &dependents[next] {
            if !done[d] && waiting_on[d] > 0 {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 {
                    ready.push(key(d));
                }
            }
        }
    }
    let mut slots: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    let ordered = out_idx
        .into_iter()
        .map(|i| slots[i].take().expect("each item once"))
        .collect();
    (ordered, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Depend;

    fn item(kind: Kind, name: &str, oid: u32) -> Item {
        Item {
            kind,
            name: name.into(),
            schema: "public".into(),
            sql: String::new(),
            provides: vec![ObjRef::new(class::PG_CLASS, oid)],
            after: vec![],
            table: None,
            lead: None,
        }
    }

    #[test]
    fn dependencies_beat_priority_and_names_break_ties() {
        // A view (100) on a table (200): the table first even though "a_view" < "z_table".
        let mut cat = Catalog::default();
        cat.depends.push(Depend {
            obj: ObjRef::new(class::PG_REWRITE, 7),
            obj_sub: 0,
            refobj: ObjRef::new(class::PG_CLASS, 200),
            ref_sub: 1,
            deptype: 'n',
        });
        cat.owners.insert(
            ObjRef::new(class::PG_REWRITE, 7),
            ObjRef::new(class::PG_CLASS, 100),
        );
        let items = vec![
            item(Kind::Table, "b_table", 300),
            item(Kind::Table, "z_table", 200),
            item(Kind::Table, "a_view", 100),
            item(Kind::Schema, "s", 1),
        ];
        let (out, warnings) = order(&cat, items);
        let names: Vec<&str> = out.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["s", "b_table", "z_table", "a_view"]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn cycles_are_broken_with_a_warning() {
        let mut a = item(Kind::Table, "a", 1);
        a.after.push(ObjRef::new(class::PG_CLASS, 2));
        let mut b = item(Kind::Table, "b", 2);
        b.after.push(ObjRef::new(class::PG_CLASS, 1));
        let (out, warnings) = order(&Catalog::default(), vec![b, a]);
        assert_eq!(out.len(), 2);
        assert_eq!(warnings.len(), 1);
    }
}
