//! [`Major`]: a PostgreSQL major version as tests name it — `9.4`, `9.6`, `10` … `18`.
//!
//! Before 10 a major had two numbers (9.4, 9.6); from 10 on it has one. A `Major` keeps the
//! `server_version_num` of the major's first release (90400, 150000), so majors of both
//! eras order and compare as the server's own version gates do, and prints as PostgreSQL
//! writes it. Integers convert into it (`Cluster::start(15)`), and it compares with them
//! (`major >= 11`), so code written for 10..18 reads the same. It never guesses: text that is
//! not a major is an error.

use anyhow::{bail, Result};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A PostgreSQL major version; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Major(u32);

impl Major {
    /// PostgreSQL 9.4, the oldest source pgmove reads.
    pub const V9_4: Major = Major(90400);
    /// PostgreSQL 9.5 (no build of it is fetched; for version gates such as row-level security).
    pub const V9_5: Major = Major(90500);
    /// PostgreSQL 9.6.
    pub const V9_6: Major = Major(90600);

    /// The major `n` of the one-number era (10 on). Panics below 10: those majors have two
    /// numbers (use [`Major::V9_4`] or parse `"9.4"`).
    pub const fn new(n: u32) -> Major {
        assert!(n >= 10, "majors before 10 have two numbers, e.g. 9.4");
        Major(n * 10000)
    }

    /// `server_version_num` of the major's first release (90400, 150000): what
    /// `current_setting('server_version_num')::int` is at least on such a server.
    pub const fn version_num(self) -> u32 {
        self.0
    }

    /// The major of a server reporting `server_version_num` (e.g. 90426 → 9.4, 150018 → 15).
    pub const fn of_version_num(num: u32) -> Major {
        if num >= 100000 {
            Major(num / 10000 * 10000)
        } else {
            Major(num / 100 * 100)
        }
    }
}

impl From<u32> for Major {
    /// [`Major::new`].
    fn from(n: u32) -> Major {
        Major::new(n)
    }
}

impl PartialEq<u32> for Major {
    fn eq(&self, other: &u32) -> bool {
        *other >= 10 && *self == Major::new(*other)
    }
}

impl PartialOrd<u32> for Major {
    /// Against an integer of the one-number era: 9.6 < 10, 15 >= 11.
    fn partial_cmp(&self, other: &u32) -> Option<Ordering> {
        Some(self.0.cmp(&other.saturating_mul(10000)))
    }
}

impl fmt::Display for Major {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 100000 {
            write!(f, "{}", self.0 / 10000)
        } else {
            write!(f, "{}.{}", self.0 / 10000, self.0 / 100 % 100)
        }
    }
}

impl FromStr for Major {
    type Err = anyhow::Error;

    /// `"9.4"`, `"9.6"` … (two numbers before 10), `"10"` … `"18"` (one number from 10 on).
    fn from_str(s: &str) -> Result<Major> {
        let num = |t: &str| {
            t.parse::<u32>()
                .ok()
                .filter(|_| t.bytes().all(|b| b.is_ascii_digit()))
        };
        match s.split_once('.') {
            None => match num(s) {
                Some(n) if (10..1000).contains(&n) => Ok(Major::new(n)),
                _ => bail!("{s:?} is not a PostgreSQL major (9.4, 9.6, 10 … 18)"),
            },
            Some((a, b)) => match (num(a), num(b)) {
                (Some(a @ 7..=9), Some(b @ 0..=6)) => Ok(Major(a * 10000 + b * 100)),
                _ => bail!("{s:?} is not a PostgreSQL major (9.4, 9.6, 10 … 18)"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_parse_print_and_order_across_eras() {
        for text in ["9.4", "9.6", "10", "15", "18"] {
            assert_eq!(text.parse::<Major>().unwrap().to_string(), text);
        }
        assert_eq!("9.4".parse::<Major>().unwrap(), Major::V9_4);
        assert_eq!("15".parse::<Major>().unwrap(), Major::from(15));
        for bad in ["9", "9.", "9.x", "15.1", "", "x", "+15", "9.10"] {
            assert!(bad.parse::<Major>().is_err(), "{bad:?} parsed");
        }
        assert!(Major::V9_4 < Major::V9_6 && Major::V9_6 < Major::new(10));
        assert!(Major::V9_6 < 10 && Major::new(15) >= 11 && Major::new(15) == 15);
        assert!(Major::V9_4 != 9);
        assert_eq!(Major::of_version_num(90426), Major::V9_4);
        assert_eq!(Major::of_version_num(150018), Major::new(15));
        assert_eq!(Major::V9_6.version_num(), 90600);
    }
}
