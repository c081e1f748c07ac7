//! How much memory each post-data session asks the target for: `maintenance_work_mem` for its
//! index builds and `work_mem` for the joins that check foreign keys.
//!
//! A server's defaults (64 MB and 4 MB) make a big table's index build sort on disk, in runs
//! merged afterwards, and a foreign key's check hash in batches. The post-data sessions are few
//! (`--jobs`) and run one statement at a time, so each may take a share of the target's memory
//! for as long as post-data runs. The share is sized from `effective_cache_size`, the setting
//! that describes the machine's memory to the planner (hosted servers derive it from the
//! instance's memory), never lowers what the server already gives, and never exceeds what the
//! server allows. Only the sessions pgmove opens are changed: `SET`, never `ALTER SYSTEM`.

use crate::{Error, Result};
use tokio_postgres::Client;

/// What the post-data sessions ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionMemory {
    /// Sized from the target: each of `n` sessions gets a quarter of `effective_cache_size`
    /// divided by `n`, at most [`AUTO_CAP_KB`], and never less than the server's own setting.
    #[default]
    Auto,
    /// The server's own settings, untouched.
    Server,
    /// `maintenance_work_mem` of this many kB per session (half of it as `work_mem`); the
    /// server still refuses more than it allows.
    Kb(u64),
}

impl std::str::FromStr for SessionMemory {
    type Err = String;

    /// `auto`, `server`, or a size as PostgreSQL writes one: `512MB`, `1GB`, `65536kB`, or a
    /// bare number of kB.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "auto" => return Ok(SessionMemory::Auto),
            "server" => return Ok(SessionMemory::Server),
            _ => {}
        }
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = t.split_at(digits);
        let n: u64 = n
            .parse()
            .map_err(|_| format!("{s:?} is not a size: use auto, server, or e.g. 512MB"))?;
        let kb = match unit.trim() {
            "" | "kB" => Some(n),
            "MB" => n.checked_mul(1 << 10),
            "GB" => n.checked_mul(1 << 20),
            "TB" => n.checked_mul(1 << 30),
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (kB, MB, GB or TB, as PostgreSQL writes them)"
                ))
            }
        };
        match kb {
            Some(kb) if kb >= 1024 => Ok(SessionMemory::Kb(kb)),
            Some(_) => Err(format!("{s:?} is below PostgreSQL's minimum of 1MB")),
            None => Err(format!("{s:?} is too large")),
        }
    }
}

/// The most [`SessionMemory::Auto`] asks for per session: an index build gains little from
/// more, and a sort that fits is all it needs.
pub const AUTO_CAP_KB: u64 = 1 << 20;

/// What the sessions were given, in kB; `None` when left to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Granted {
    pub maintenance_work_mem_kb: Option<u64>,
    pub work_mem_kb: Option<u64>,
}

impl Granted {
    /// The `SET` statements that give a session this memory (empty when nothing changes).
    pub fn sql(&self) -> String {
        let mut out = String::new();
        if let Some(kb) = self.maintenance_work_mem_kb {
            out += &format!("SET maintenance_work_mem = '{kb}kB';\n");
        }
        if let Some(kb) = self.work_mem_kb {
            out += &format!("SET work_mem = '{kb}kB';\n");
        }
        out
    }
}

/// The target's settings the sizing reads, in kB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub effective_cache_size_kb: u64,
    pub maintenance_work_mem_kb: u64,
    pub maintenance_work_mem_max_kb: u64,
    pub work_mem_kb: u64,
    pub work_mem_max_kb: u64,
}

/// Read the target's memory settings (as the session sees them).
pub(crate) async fn settings(client: &Client) -> Result<Settings> {
    // pg_settings gives each in its unit (8 kB blocks for effective_cache_size, kB for the
    // others); max_val in the same unit.
    let rows = client
        .query(
            "SELECT name, setting::int8 * CASE unit WHEN '8kB' THEN 8 WHEN 'MB' THEN 1024 ELSE 1 END,
                    max_val::int8 * CASE unit WHEN '8kB' THEN 8 WHEN 'MB' THEN 1024 ELSE 1 END
             FROM pg_catalog.pg_settings
             WHERE name IN ('effective_cache_size', 'maintenance_work_mem', 'work_mem')",
            &[],
        )
        .await
        .map_err(|e| Error::db(e, None, Some("reading the target's memory settings")))?;
    let get = |name: &str| -> Result<(u64, u64)> {
        rows.iter()
            .find(|r| r.get::<_, &str>(0) == name)
            .map(|r| {
                (
                    r.get::<_, i64>(1).max(0) as u64,
                    r.get::<_, i64>(2).max(0) as u64,
                )
            })
            .ok_or_else(|| Error::Invalid(format!("the target has no setting {name}")))
    };
    let (ecs, _) = get("effective_cache_size")?;
    let (mwm, mwm_max) = get("maintenance_work_mem")?;
    let (wm, wm_max) = get("work_mem")?;
    Ok(Settings {
        effective_cache_size_kb: ecs,
        maintenance_work_mem_kb: mwm,
        maintenance_work_mem_max_kb: mwm_max,
        work_mem_kb: wm,
        work_mem_max_kb: wm_max,
    })
}

/// What each of `sessions` sessions gets under `choice`, given the target's settings `s`.
/// Pure: the rule, apart from reading the settings.
pub(crate) fn size(choice: SessionMemory, s: &Settings, sessions: usize) -> Granted {
    let per_session = match choice {
        SessionMemory::Server => return Granted::default(),
        SessionMemory::Kb(kb) => kb,
        SessionMemory::Auto => {
            (s.effective_cache_size_kb / 4 / sessions.max(1) as u64).min(AUTO_CAP_KB)
        }
    };
    let auto = choice == SessionMemory::Auto;
    // Auto only ever raises a setting; an explicit size is the user's to lower too.
    let pick = |want: u64, current: u64, max: u64| {
        let v = want.min(max);
        (v != current && (!auto || v > current)).then_some(v)
    };
    Granted {
        maintenance_work_mem_kb: pick(
            per_session,
            s.maintenance_work_mem_kb,
            s.maintenance_work_mem_max_kb,
        ),
        work_mem_kb: pick(per_session / 2, s.work_mem_kb, s.work_mem_max_kb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(ecs_kb: u64) -> Settings {
        Settings {
            effective_cache_size_kb: ecs_kb,
            maintenance_work_mem_kb: 64 << 10,
            maintenance_work_mem_max_kb: i32::MAX as u64,
            work_mem_kb: 4 << 10,
            work_mem_max_kb: i32::MAX as u64,
        }
    }

    #[test]
    fn auto_takes_a_share_of_the_cache_per_session() {
        // 4 GB of effective_cache_size (the default), 2 sessions: 512 MB each.
        let g = size(SessionMemory::Auto, &defaults(4 << 20), 2);
        assert_eq!(g.maintenance_work_mem_kb, Some(512 << 10));
        assert_eq!(g.work_mem_kb, Some(256 << 10));
        assert_eq!(
            g.sql(),
            "SET maintenance_work_mem = '524288kB';\nSET work_mem = '262144kB';\n"
        );
    }

    #[test]
    fn auto_is_capped_and_never_lowers() {
        let g = size(SessionMemory::Auto, &defaults(64 << 20), 1);
        assert_eq!(g.maintenance_work_mem_kb, Some(AUTO_CAP_KB));
        // A small machine: a quarter of 512 MB over 4 sessions is below the server's 64 MB.
        let g = size(SessionMemory::Auto, &defaults(512 << 10), 4);
        assert_eq!(g.maintenance_work_mem_kb, None);
        assert_eq!(g.work_mem_kb, Some(16 << 10));
        let mut s = defaults(4 << 20);
        s.maintenance_work_mem_kb = 2 << 20;
        assert_eq!(
            size(SessionMemory::Auto, &s, 2).maintenance_work_mem_kb,
            None
        );
    }

    #[test]
    fn parses_as_postgresql_writes_sizes() {
        let p = |s: &str| s.parse::<SessionMemory>();
        assert_eq!(p("auto"), Ok(SessionMemory::Auto));
        assert_eq!(p("Server"), Ok(SessionMemory::Server));
        assert_eq!(p("512MB"), Ok(SessionMemory::Kb(512 << 10)));
        assert_eq!(p("1GB"), Ok(SessionMemory::Kb(1 << 20)));
        assert_eq!(p("65536kB"), Ok(SessionMemory::Kb(65536)));
        assert_eq!(p("2048"), Ok(SessionMemory::Kb(2048)));
        assert!(p("512mb").unwrap_err().contains("unknown unit"));
        assert!(p("lots").unwrap_err().contains("not a size"));
        assert!(p("10kB").unwrap_err().contains("minimum"));
    }

    #[test]
    fn explicit_and_server_choices() {
        assert_eq!(
            size(SessionMemory::Server, &defaults(4 << 20), 2),
            Granted::default()
        );
        assert_eq!(Granted::default().sql(), "");
        let g = size(SessionMemory::Kb(32 << 10), &defaults(4 << 20), 2);
        assert_eq!(g.maintenance_work_mem_kb, Some(32 << 10));
        assert_eq!(g.work_mem_kb, Some(16 << 10));
        let mut s = defaults(4 << 20);
        s.maintenance_work_mem_max_kb = 100 << 10;
        let g = size(SessionMemory::Kb(1 << 20), &s, 2);
        assert_eq!(g.maintenance_work_mem_kb, Some(100 << 10));
    }
}
