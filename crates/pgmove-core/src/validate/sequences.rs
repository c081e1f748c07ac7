//! Sequence states: each target sequence must be at or past the source's, and past the largest
//! value of the column it feeds (a sequence behind its column is the classic post-cutover
//! outage: the first insert after the switch fails on a duplicate key).
//!
//! The judgement ([`check`]) is pure; [`column_extremes`] reads `max`/`min` of owning columns on
//! the target with plain `SELECT`s. Nothing here ever moves a sequence (`nextval` would).

use crate::model::{Catalog, Sequence};
use crate::quote::{ident, qualified};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;
use tokio_postgres::Client;

/// One sequence's states on both sides and what is wrong, if anything.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SequenceCheck {
    pub sequence: String,
    /// `last_value` and `is_called` on each side (`None`: missing or unreadable).
    pub source: Option<(i64, bool)>,
    pub target: Option<(i64, bool)>,
    /// The owning column, `schema.table.column`, and its largest value on the target (smallest
    /// for a descending sequence).
    pub column: Option<String>,
    pub column_extreme: Option<i64>,
    /// `None` when the target sequence is fine.
    pub problem: Option<String>,
    /// Worth knowing but not a difference: a sequence behind its column on the source as well
    /// (the target has the source's state, latent duplicate-key failure included).
    pub note: Option<String>,
}

/// The value `nextval` would return next.
fn next_value(last: i64, called: bool, increment: i64) -> i64 {
    if called {
        last.saturating_add(increment)
    } else {
        last
    }
}

/// Judge one sequence: `target` is the same-named sequence on the target, if any;
/// `extreme` the owning column's max (min when descending) there.
pub fn check(source: &Sequence, target: Option<&Sequence>, extreme: Option<i64>) -> SequenceCheck {
    let name = qualified(&source.schema, &source.name);
    let column = source
        .owned_by
        .as_ref()
        .map(|o| format!("{}.{}", qualified(&o.schema, &o.table), ident(&o.column)));
    let mut out = SequenceCheck {
        sequence: name,
        source: source.last_value.map(|v| (v, source.is_called)),
        target: target.and_then(|t| t.last_value.map(|v| (v, t.is_called))),
        column,
        column_extreme: extreme,
        problem: None,
        note: None,
    };
    let Some(t) = target else {
        out.problem = Some("missing on the target".into());
        return out;
    };
    let Some(tl) = t.last_value else {
        out.problem = Some("its state cannot be read on the target".into());
        return out;
    };
    let up = t.increment > 0;
    let next_t = next_value(tl, t.is_called, t.increment);
    let ahead = |a: i64, b: i64| if up { a >= b } else { a <= b };
    if let Some(sl) = source.last_value {
        let next_s = next_value(sl, source.is_called, source.increment);
        if !ahead(next_t, next_s) {
            out.problem = Some(format!(
                "behind the source: next value {next_t} on the target, {next_s} on the source"
            ));
            return out;
        }
    }
    if let Some(x) = extreme {
        let past = |next: i64| if up { next > x } else { next < x };
        if !past(next_t) {
            let text = format!(
                "behind its column: next value {next_t}, {}({}) = {x} on the target",
                if up { "max" } else { "min" },
                out.column.as_deref().unwrap_or("?")
            );
            // The source's next value is no further (checked above): when it is not past the
            // column either, the source has the same latent failure and the target its state.
            let source_behind = source
                .last_value
                .is_some_and(|sl| !past(next_value(sl, source.is_called, source.increment)));
            if source_behind {
                out.note = Some(format!("{text}, as on the source"));
            } else {
                out.problem = Some(text);
            }
        }
    }
    out
}

/// For each sequence of `target` owned by a column (serial and identity alike), the column's
/// largest value (smallest when the sequence descends), keyed by the sequence's qualified name.
/// Values that are not integers are left out.
pub async fn column_extremes(
    client: &Client,
    target: &Catalog,
    wanted: &dyn Fn(&Sequence) -> bool,
) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    for s in target.sequences.iter().filter(|s| wanted(s)) {
        let Some(o) = &s.owned_by else {
            continue;
        };
        let (table, column) = (qualified(&o.schema, &o.table), &o.column);
        let agg = if s.increment > 0 { "max" } else { "min" };
        let sql = format!("SELECT {agg}({})::text FROM {table}", ident(column));
        let row = client
            .query_one(&sql, &[])
            .await
            .map_err(|e| Error::db(e, Some(format!("reading {agg} of {table}")), Some(&sql)))?;
        let v: Option<String> = row.get(0);
        if let Some(v) = v.and_then(|v| v.parse::<i64>().ok()) {
            out.insert(qualified(&s.schema, &s.name), v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OwnedBy;

    fn seq(last: Option<i64>, called: bool, inc: i64) -> Sequence {
        Sequence {
            oid: 1,
            schema: "public".into(),
            name: "t_id_seq".into(),
            type_name: "integer".into(),
            start: 1,
            increment: inc,
            min: i64::MIN,
            max: i64::MAX,
            cache: 1,
            cycle: false,
            owned_by: Some(OwnedBy::new(2, "public", "t", "id")),
            identity: false,
            last_value: last,
            is_called: called,
            unlogged: false,
            acl: None,
            owner: "postgres".into(),
        }
    }

    #[test]
    fn equal_or_ahead_is_fine() {
        let s = seq(Some(10), true, 1);
        assert!(check(&s, Some(&seq(Some(10), true, 1)), Some(10))
            .problem
            .is_none());
        assert!(check(&s, Some(&seq(Some(11), false, 1)), None)
            .problem
            .is_none());
        assert!(check(&s, Some(&seq(Some(500), true, 1)), Some(10))
            .problem
            .is_none());
    }

    #[test]
    fn behind_the_source_or_its_column_is_caught() {
        let s = seq(Some(10), true, 1);
        let p = check(&s, Some(&seq(Some(10), false, 1)), None).problem;
        assert!(p.unwrap().contains("behind the source"));
        let p = check(
            &seq(Some(12), false, 1),
            Some(&seq(Some(5), true, 1)),
            Some(10),
        )
        .problem;
        assert!(p.unwrap().contains("behind the source"));
        let p = check(&seq(None, false, 1), Some(&seq(Some(5), true, 1)), Some(10)).problem;
        assert!(p.unwrap().contains("max(public.t.id) = 10"));
    }

    #[test]
    fn a_source_behind_its_own_column_is_a_note_not_a_difference() {
        // Rows inserted with explicit keys on the source, the sequence never used: the target
        // has the source's state, which is all a migration can promise.
        let c = check(
            &seq(Some(1), false, 1),
            Some(&seq(Some(1), false, 1)),
            Some(2),
        );
        assert_eq!(c.problem, None);
        assert!(c
            .note
            .unwrap()
            .contains("max(public.t.id) = 2 on the target, as on the source"));
        let s = seq(Some(10), true, 1);
        assert!(check(&s, None, None).problem.unwrap().contains("missing"));
    }

    #[test]
    fn descending_sequences_compare_the_other_way() {
        let s = seq(Some(-10), true, -1);
        assert!(check(&s, Some(&seq(Some(-20), true, -1)), Some(-15))
            .problem
            .is_none());
        assert!(check(&s, Some(&seq(Some(-5), true, -1)), None)
            .problem
            .is_some());
    }
}
