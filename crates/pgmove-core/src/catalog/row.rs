//! A catalog query's row whose columns are found by name in constant time.
//!
//! Why: the readers take every value by column name (`r.get("attname")`), which reads well and
//! survives reordering a SELECT list, but tokio-postgres finds a name by comparing it with each
//! column's in turn, and the wide queries (columns, indexes, constraints: 20 to 30 columns,
//! tens of thousands of rows) ask many times per row. Here each query's names go into a small
//! open-addressing table once; and since every name a reader asks for is a string literal,
//! whose address never changes nor holds other text, each name's column is also remembered by
//! the literal's address and length: after a query's first row, a lookup is mostly one load
//! and one comparison. The cache belongs to one query's rows: never shared between queries.

use compact_str::CompactString;
use postgres_types::FromSql;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_postgres::Column;

/// Slots of [`Names::by_address`] (a power of two): many times the widest query's 30-odd
/// columns, so that two literals a reader asks for on every row rarely share one.
const CACHE_SLOTS: usize = 512;
/// The address and length part of a [`Names::by_address`] entry.
const KEY_BITS: u64 = (1 << 54) - 1;

/// The column names of one query's result, hashed.
pub(crate) struct Names {
    /// Columns by the address of the literal that named them: `address | len << 48 | column
    /// << 54`, 0 when empty. A slot's entry is replaced when another literal maps to it.
    /// Atomic only so that rows stay `Send`; relaxed loads and stores are plain moves.
    by_address: [AtomicU64; CACHE_SLOTS],
    /// `mask + 1` slots (a power of two at least twice the column count): a column's index
    /// plus one, or 0 for an empty slot.
    slots: Vec<u16>,
    mask: usize,
    names: Vec<String>,
}

/// FNV-1a: short keys, no need for DoS resistance (the keys are our own column names).
fn hash(s: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in s {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as usize
}

impl Names {
    pub(crate) fn new(columns: &[Column]) -> Names {
        Names::from_names(columns.iter().map(|c| c.name().to_string()).collect())
    }

    fn from_names(names: Vec<String>) -> Names {
        let size = (names.len() * 2).next_power_of_two().max(8);
        let mut slots = vec![0u16; size];
        let mask = size - 1;
        for (i, name) in names.iter().enumerate() {
            let mut s = hash(name.as_bytes()) & mask;
            // A repeated name keeps its first column, as tokio-postgres's lookup does.
            while slots[s] != 0 && names[slots[s] as usize - 1] != *name {
                s = (s + 1) & mask;
            }
            if slots[s] == 0 {
                slots[s] = u16::try_from(i + 1).expect("fewer than 65,535 columns");
            }
        }
        Names {
            by_address: std::array::from_fn(|_| AtomicU64::new(0)),
            slots,
            mask,
            names,
        }
    }

    /// [`Names::find`] for a string literal, remembered by its address.
    fn find_static(&self, name: &'static str) -> Option<usize> {
        let address = name.as_ptr() as u64;
        let key = address | (name.len() as u64) << 48;
        let mixed = address.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - CACHE_SLOTS.ilog2());
        let slot = &self.by_address[mixed as usize];
        let entry = slot.load(Ordering::Relaxed);
        if entry != 0 && entry & KEY_BITS == key {
            return Some((entry >> 54) as usize);
        }
        let column = self.find(name)?;
        // Addresses past 48 bits, names past 63 bytes or columns past 1,023 are not
        // remembered (none occur): they would not fit the entry.
        if address < 1 << 48 && name.len() < 64 && column < 1024 {
            slot.store(key | (column as u64) << 54, Ordering::Relaxed);
        }
        Some(column)
    }

    fn find(&self, name: &str) -> Option<usize> {
        let mut s = hash(name.as_bytes()) & self.mask;
        loop {
            let c = self.slots[s] as usize;
            if c == 0 {
                return None;
            }
            if self.names[c - 1] == name {
                return Some(c - 1);
            }
            s = (s + 1) & self.mask;
        }
    }
}

/// How a value is named: by column name, or by position.
pub(crate) trait Col: Copy + std::fmt::Display {
    fn index(self, names: &Names) -> Option<usize>;
}

impl Col for &'static str {
    fn index(self, names: &Names) -> Option<usize> {
        names.find_static(self)
    }
}

impl Col for usize {
    fn index(self, names: &Names) -> Option<usize> {
        (self < names.names.len()).then_some(self)
    }
}

/// One row of a catalog query.
pub(crate) struct Row {
    row: tokio_postgres::Row,
    names: Arc<Names>,
}

impl Row {
    /// `names` must be those of `row`'s query.
    pub(crate) fn new(row: tokio_postgres::Row, names: Arc<Names>) -> Self {
        Row { row, names }
    }

    /// The value of column `col`. Panics, as `tokio_postgres::Row::get` does, on a column the
    /// query does not have or a type that does not match: both are bugs in pgmove's own SQL,
    /// which the tests run on every supported major.
    pub(crate) fn get<'a, I: Col, T: FromSql<'a>>(&'a self, col: I) -> T {
        match col.index(&self.names) {
            Some(i) => self.row.get(i),
            None => panic!("catalog query has no column {col}"),
        }
    }

    /// A text column as short catalog text, kept inline when it fits ([`CompactString`]).
    pub(crate) fn text<I: Col>(&self, col: I) -> CompactString {
        CompactString::from(self.get::<I, &str>(col))
    }

    /// A nullable text column as [`Row::text`].
    pub(crate) fn text_opt<I: Col>(&self, col: I) -> Option<CompactString> {
        self.get::<I, Option<&str>>(col).map(CompactString::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Names {
        Names::from_names(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn finds_every_name_and_only_those() {
        let list: Vec<String> = (0..40).map(|i| format!("col_{i}")).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let n = names(&refs);
        for (i, name) in refs.iter().enumerate() {
            assert_eq!(n.find(name), Some(i));
        }
        assert_eq!(n.find("col_40"), None);
        assert_eq!(n.find(""), None);
    }

    #[test]
    fn literals_found_again_by_address() {
        let n = names(&["oid", "name", "na"]);
        for _ in 0..3 {
            assert_eq!(n.find_static("name"), Some(1));
            assert_eq!(n.find_static("oid"), Some(0));
            // A literal that may share "name"'s address, with another length.
            assert_eq!(n.find_static(&"name"[..2]), Some(2));
            assert_eq!(n.find_static("missing"), None);
        }
    }

    #[test]
    fn repeated_name_is_its_first_column() {
        let n = names(&["oid", "name", "oid"]);
        assert_eq!(n.find("oid"), Some(0));
        assert_eq!(n.find("name"), Some(1));
    }
}
