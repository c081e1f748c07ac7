//! A cheap hash for maps keyed by OIDs and other small integers from the source catalog.
//!
//! The standard `HashMap` hashes with SipHash, which guards against keys chosen to collide. The
//! keys here are OIDs, attribute numbers and [`ObjRef`](crate::model::ObjRef)s read from a
//! catalog, and the maps are probed a few times per object and per `pg_depend` row, where
//! SipHash's cost shows. Never use it for keys that come from users.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// One multiply per `u32` written.
#[derive(Default, Clone, Copy)]
pub(crate) struct OidHasher(u64);

impl Hasher for OidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Odd constant (2^64 / golden ratio): the product's high bits, which the table's
        // control bytes use, depend on every bit of the input; the rotation mixes the first
        // field into the low bits that pick the bucket.
        self.0 = (self.0.rotate_left(26) ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u32(n as u32);
    }
    fn write_i16(&mut self, n: i16) {
        self.write_u32(n as u32);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type OidBuild = BuildHasherDefault<OidHasher>;
/// A `HashMap` keyed by OIDs (or tuples of them) with [`OidHasher`].
pub(crate) type OidMap<K, V> = HashMap<K, V, OidBuild>;
/// A `HashSet` of OIDs (or tuples of them) with [`OidHasher`].
pub(crate) type OidSet<K> = HashSet<K, OidBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjRef;

    #[test]
    fn maps_find_what_was_put_and_spread_keys() {
        let mut m: OidMap<ObjRef, u32> = OidMap::default();
        for i in 0..10_000u32 {
            m.insert(ObjRef::new(1259, 16384 + i), i);
        }
        for i in 0..10_000u32 {
            assert_eq!(m.get(&ObjRef::new(1259, 16384 + i)), Some(&i));
        }
        assert_eq!(m.get(&ObjRef::new(2606, 16384)), None);
        // Consecutive OIDs must not share low bits (the bucket) or high bits (the tag).
        let hash = |r: ObjRef| {
            use std::hash::BuildHasher;
            OidBuild::default().hash_one(r)
        };
        let low: OidSet<u64> = (0..1024)
            .map(|i| hash(ObjRef::new(1259, 16384 + i)) & 1023)
            .collect();
        let high: OidSet<u64> = (0..256)
            .map(|i| hash(ObjRef::new(1259, 16384 + i)) >> 57)
            .collect();
        assert!(low.len() > 600, "{} buckets of 1024", low.len());
        assert!(high.len() > 100, "{} tags of 128", high.len());
    }
}
