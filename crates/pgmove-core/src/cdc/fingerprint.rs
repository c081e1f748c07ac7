//! What the source's schema looked like when replication started, to find DDL committed on the
//! source during the migration. Logical replication carries rows, never DDL: a column added on
//! the source mid-way breaks the apply on the target, a new table is never published, a new
//! index is missing after cutover. Pure (model in, digest out); never queries.
//!
//! The digest is each item of the rendered schema (pre-data and post-data, as the filter
//! selects them), by name, with a hash of its SQL. It is stored in the comment on pgmove's
//! publication on the source ([`Meta`]), which cutover reads back and drops with the
//! publication, so it leaves nothing behind on either server.

use super::names::fnv1a;
use crate::filter::Filter;
use crate::model::Catalog;
use crate::render::{self, Kind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Item name to a 16-hex-digit hash of its SQL.
pub type Digest = BTreeMap<String, String>;

/// What pgmove keeps in its publication's comment between `start` and `cutover`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// Format of this record.
    pub pgmove_cdc: u32,
    /// The schema at start.
    pub schema: Digest,
    /// Tables `start` set to `REPLICA IDENTITY FULL` (with the user's consent), with the
    /// replica identity each had before (`d` or `n`); cutover sets it back on the source.
    pub identity_full: Vec<(String, char)>,
    /// The target this migration replicates into ([`super::target_identity`]): another target
    /// whose database has the same name derives the same object names, and must not take
    /// these over.
    #[serde(default)]
    pub target: String,
}

impl Meta {
    /// The comment text.
    pub fn to_comment(&self) -> String {
        serde_json::to_string(self).expect("a map of strings serializes")
    }
    /// Read a comment back; `None` when it is not pgmove's.
    pub fn from_comment(text: &str) -> Option<Meta> {
        serde_json::from_str::<Meta>(text)
            .ok()
            .filter(|m| m.pgmove_cdc == 1)
    }
}

/// The digest of what `filter` selects of `cat`. Sequence states are data, not schema, and
/// are left out.
pub fn digest(cat: &Catalog, filter: &Filter) -> Digest {
    let items = render::all(cat, &render::Options::default());
    let (items, _) = filter.apply(cat, items);
    let mut out = Digest::new();
    for it in items.iter().filter(|i| i.kind != Kind::SequenceSet) {
        let mut name = it.name.to_string();
        let mut n = 1;
        while out.contains_key(&name) {
            n += 1;
            name = format!("{} #{n}", it.name);
        }
        out.insert(name, format!("{:016x}", fnv1a(it.sql.as_bytes())));
    }
    out
}

/// What changed from `before` to `after`, one line per object, sorted; empty when nothing did.
pub fn diff(before: &Digest, after: &Digest) -> Vec<String> {
    let mut out = Vec::new();
    for (name, hash) in before {
        match after.get(name) {
            None => out.push(format!("{name}: dropped on the source")),
            Some(h) if h != hash => out.push(format!("{name}: changed on the source")),
            Some(_) => {}
        }
    }
    for name in after.keys().filter(|n| !before.contains_key(*n)) {
        out.push(format!("{name}: created on the source"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_each_change_and_meta_round_trips() {
        let a: Digest = [("table a", "1"), ("table b", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut b = a.clone();
        b.insert("table b".into(), "3".into());
        b.remove("table a");
        b.insert("index c".into(), "4".into());
        assert_eq!(
            diff(&a, &b),
            [
                "table a: dropped on the source",
                "table b: changed on the source",
                "index c: created on the source"
            ]
        );
        assert!(diff(&a, &a).is_empty());
        let m = Meta {
            pgmove_cdc: 1,
            schema: a,
            identity_full: vec![("public.t".into(), 'd')],
            target: "7000000000000000001/app".into(),
        };
        assert_eq!(Meta::from_comment(&m.to_comment()), Some(m));
        assert_eq!(Meta::from_comment("someone else's comment"), None);
    }
}
