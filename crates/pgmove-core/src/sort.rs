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
use crate::oidhash::{OidMap, OidSet};
use crate::render::{Item, Kind};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

/// The items each item must follow, as one sorted edge list (compressed rows): there are many
/// times more edges than items, and a set per item would take more memory than the items.
pub(crate) struct Deps {
    /// Item `i`'s dependencies are `to[start[i]..start[i + 1]]`, sorted, without repeats.
    start: Vec<u32>,
    to: Vec<u32>,
}

impl Deps {
    /// Build from `(item, item it follows)` pairs, in any order, repeats allowed.
    fn from_edges(n: usize, mut edges: Vec<(u32, u32)>) -> Deps {
        edges.sort_unstable();
        edges.dedup();
        let start = row_starts(n, edges.iter().map(|&(a, _)| a));
        // Collected in place into the pairs' buffer, which is twice the size needed.
        let mut to: Vec<u32> = edges.into_iter().map(|(_, b)| b).collect();
        to.shrink_to_fit();
        Deps { start, to }
    }

    /// What item `i` must follow.
    pub(crate) fn of(&self, i: usize) -> &[u32] {
        &self.to[self.start[i] as usize..self.start[i + 1] as usize]
    }

    /// The reverse relation: for each item, the items that follow it (a counting sort of the
    /// edges by target, without a second list of pairs).
    fn reversed(&self) -> Deps {
        let n = self.start.len() - 1;
        let start = row_starts(n, self.to.iter().copied());
        let mut next = start.clone();
        let mut to = vec![0u32; self.to.len()];
        // Sources in increasing order, so each item's list comes out sorted.
        for a in 0..n {
            for &b in self.of(a) {
                to[next[b as usize] as usize] = a as u32;
                next[b as usize] += 1;
            }
        }
        Deps { start, to }
    }
}

/// Where each of `n` rows begins in a list of edges, given each edge's row (in any order):
/// the rows' edge counts, summed as they go.
fn row_starts(n: usize, rows: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut start = vec![0u32; n + 1];
    for r in rows {
        start[r as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    start
}

/// For each item, the items it must follow: its `after` list and the `pg_depend` edges between
/// what the items create, each catalog object resolved to the item that creates it (or, through
/// [`Catalog::owners`], to the item that creates what owns it). Shared by the sort and the
/// filters (which leave out what depends on an excluded item).
pub(crate) fn dependencies(cat: &Catalog, items: &[Item]) -> Deps {
    let edges = dependency_edges(cat, items, &OidSet::default());
    Deps::from_edges(items.len(), edges)
}

/// The `(item, item it follows)` pairs behind [`dependencies`], repeats included (the map of
/// providers is gone before the pairs are sorted). What `elsewhere` holds is created by items
/// of another step: a dependency on it (or of it) is no edge here, rather than one on the
/// object that owns it (a check added in post-data is not its table).
fn dependency_edges(cat: &Catalog, items: &[Item], elsewhere: &OidSet<ObjRef>) -> Vec<(u32, u32)> {
    let mut provider: OidMap<ObjRef, u32> =
        OidMap::with_capacity_and_hasher(items.len(), Default::default());
    // A base type is provided twice, by its shell and then by its full definition: the full
    // type of each shell item, by the shell's index.
    let mut completed: OidMap<u32, u32> = OidMap::default();
    for (i, it) in items.iter().enumerate() {
        for p in &it.provides {
            let first = *provider.entry(*p).or_insert(i as u32);
            if first as usize != i && items[first as usize].kind == Kind::ShellType {
                completed.insert(first, i as u32);
            }
        }
    }
    // What needs a base type follows its full definition, except what the full definition
    // itself follows (its I/O functions), which only needs the shell: so a SQL function or
    // a composite type over the type comes after `CREATE TYPE … (INPUT = …)`, as in pg_dump.
    let through_shell = |a: u32, b: u32, obj: Option<ObjRef>| -> u32 {
        match completed.get(&b) {
            Some(&full)
                if full != a && !obj.is_some_and(|o| items[full as usize].after.contains(&o)) =>
            {
                full
            }
            _ => b,
        }
    };
    let resolve = |mut r: ObjRef| -> Option<u32> {
        for _ in 0..8 {
            if let Some(&i) = provider.get(&r) {
                return Some(i);
            }
            if elsewhere.contains(&r) {
                return None;
            }
            r = *cat.owners.get(&r)?;
        }
        None
    };

    let afters: usize = items.iter().map(|it| it.after.len()).sum();
    let mut edges: Vec<(u32, u32)> = Vec::with_capacity(afters + cat.depends.len());
    for (i, it) in items.iter().enumerate() {
        for a in &it.after {
            if let Some(j) = resolve(*a) {
                let j = through_shell(i as u32, j, it.provides.first().copied());
                if j as usize != i {
                    edges.push((i as u32, j));
                }
            }
        }
    }
    for d in &cat.depends {
        let (Some(a), Some(b)) = (resolve(d.obj), resolve(d.refobj)) else {
            continue;
        };
        let kind = items[a as usize].kind;
        if a == b || kind == Kind::ShellType {
            continue;
        }
        let b = through_shell(a, b, Some(d.obj));
        if a == b {
            continue;
        }
        // A sequence OWNED BY a column depends on its table, and the table's default on the
        // sequence: the ownership is a separate item, so drop that edge here.
        if kind == Kind::Sequence
            && d.deptype == 'a'
            && d.refobj.class == class::PG_CLASS
            && d.ref_sub > 0
        {
            continue;
        }
        edges.push((a, b));
    }
    edges
}

/// Items in dependency order, and a warning for each cycle that had to be broken.
pub fn order(cat: &Catalog, items: Vec<Item>) -> (Vec<Item>, Vec<String>) {
    order_step(cat, items, &OidSet::default())
}

/// [`order`] for the items of one step, `elsewhere` holding what the other steps' items create.
pub(crate) fn order_step(
    cat: &Catalog,
    mut items: Vec<Item>,
    elsewhere: &OidSet<ObjRef>,
) -> (Vec<Item>, Vec<String>) {
    let n = items.len();
    let deps = Deps::from_edges(n, dependency_edges(cat, &items, elsewhere));
    let mut waiting_on: Vec<u32> = (0..n).map(|i| deps.of(i).len() as u32).collect();
    let dependents = deps.reversed();
    drop(deps);
    // Each item's place in (kind, schema, name) order, computed once: the ready queue orders
    // by it without copying names.
    let mut by_priority: Vec<u32> = (0..n as u32).collect();
    // Unstable is enough: the index makes every key distinct.
    // The items of one schema share its string: comparing the pointers first skips comparing
    // the text for nearly every pair.
    by_priority.sort_unstable_by(|&a, &b| {
        let (x, y) = (&items[a as usize], &items[b as usize]);
        x.kind
            .cmp(&y.kind)
            .then_with(|| {
                if Arc::ptr_eq(&x.schema, &y.schema) {
                    Ordering::Equal
                } else {
                    x.schema.cmp(&y.schema)
                }
            })
            .then_with(|| x.name.cmp(&y.name))
            .then(a.cmp(&b))
    });
    let mut rank = vec![0u32; n];
    for (r, &i) in by_priority.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    drop(by_priority);
    let mut ready: BinaryHeap<Reverse<(u32, u32)>> = (0..n)
        .filter(|&i| waiting_on[i] == 0)
        .map(|i| Reverse((rank[i], i as u32)))
        .collect();
    let mut done = vec![false; n];
    let mut out_idx: Vec<u32> = Vec::with_capacity(n);
    let mut warnings = Vec::new();
    while out_idx.len() < n {
        let next = match ready.pop() {
            Some(Reverse((_, i))) => i as usize,
            None => {
                // A cycle: emit its lowest-priority member anyway and say so.
                let i = (0..n)
                    .filter(|&i| !done[i])
                    .min_by_key(|&i| rank[i])
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
        out_idx.push(next as u32);
        for &d in dependents.of(next) {
            let d = d as usize;
            if !done[d] && waiting_on[d] > 0 {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 {
                    ready.push(Reverse((rank[d], d as u32)));
                }
            }
        }
    }
    // Put the items in place by following the permutation's cycles: no second vector of items.
    let mut pos = vec![0u32; n];
    for (p, &i) in out_idx.iter().enumerate() {
        pos[i as usize] = p as u32;
    }
    for i in 0..n {
        while pos[i] as usize != i {
            let j = pos[i] as usize;
            items.swap(i, j);
            pos.swap(i, j);
        }
    }
    (items, warnings)
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
            provides: [ObjRef::new(class::PG_CLASS, oid)].into_iter().collect(),
            after: Default::default(),
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
