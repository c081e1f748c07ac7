//! The names of pgmove's replication objects: one name for the publication and the slot on
//! the source and the subscription on the target, derived from the target database's name so
//! that a re-run (after a kill, or at cutover) finds what an earlier run created. Pure; never
//! queries.

use serde::Serialize;

/// What every pgmove replication object's name starts with. The catalog reader leaves
/// publications with this prefix out of the schema it moves.
pub const PREFIX: &str = "pgmove_cdc_";

/// The names one migration into one target database uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Names {
    /// The publication on the source.
    pub publication: String,
    /// The subscription on the target.
    pub subscription: String,
    /// The logical replication slot on the source, created and dropped by the subscription.
    pub slot: String,
    /// The `application_name` of pgmove's own sessions on the target while it creates the
    /// subscription, so a re-run can end a killed run's session still waiting there.
    pub session: String,
}

impl Names {
    /// Names for a migration into the target database `target_db`. Slot names allow only
    /// lower-case letters, digits and `_`, and every name at most 63 bytes: other characters
    /// become `_`, and when anything was changed or cut, a hash of the real name is appended so
    /// two databases never share names.
    pub fn for_target(target_db: &str) -> Names {
        let clean: String = target_db
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '_' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '_',
            })
            .collect();
        let room = 63 - PREFIX.len();
        let base = if clean == target_db && clean.len() <= room {
            clean
        } else {
            let keep: String = clean.chars().take(room - 9).collect();
            format!("{keep}_{:08x}", fnv1a(target_db.as_bytes()) as u32)
        };
        let name = format!("{PREFIX}{base}");
        Names {
            publication: name.clone(),
            subscription: name.clone(),
            slot: name.clone(),
            // application_name keeps at most 63 bytes; the name is ASCII.
            session: format!("pgmove cdc {name}").chars().take(63).collect(),
        }
    }
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and Rust versions (the standard
/// library's does not promise that), for names and schema fingerprints.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_kept_and_others_made_safe_and_distinct() {
        let n = Names::for_target("shop");
        assert_eq!(n.publication, "pgmove_cdc_shop");
        assert_eq!(n.slot, n.subscription);
        let a = Names::for_target("Shop");
        let b = Names::for_target("shop-");
        assert_ne!(a.slot, n.slot);
        assert_ne!(a.slot, b.slot);
        let long = Names::for_target(&"x".repeat(100));
        assert!(long.slot.len() <= 63, "{}", long.slot);
        assert!(long.session.len() <= 63, "{}", long.session);
        for s in [&a.slot, &b.slot, &long.slot] {
            assert!(s
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'));
        }
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
