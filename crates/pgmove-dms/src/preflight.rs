//! The preflight report of `pgmove dms plan`: what will stop or quietly damage a DMS
//! full-load-and-CDC task on this source. Built from the same [`PlanInput`] as the plan (the
//! queries live in [`crate::source`]); building and rendering are pure.

use crate::plan::{LobDecision, LobKind, LobMode, Plan, PlanInput, PlanOptions, TableKind};
use serde::Serialize;
use std::fmt::Write as _;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine as it is.
    Ok,
    /// Worth knowing; nothing to do.
    Info,
    /// DMS will run, but something will be lost or need a manual step.
    Warn,
    /// DMS CDC cannot work until this is fixed.
    Fail,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub level: Level,
    pub topic: String,
    pub message: String,
    /// The objects concerned (tables or columns), when there is a list.
    pub items: Vec<String>,
}

/// A LOB column in scope with its real largest value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LobLine {
    pub table: String,
    pub column: String,
    pub type_name: String,
    pub kind: LobKind,
    pub max_bytes: Option<i64>,
}

/// The whole report, as written to `preflight.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub database: String,
    pub server_version: String,
    pub tables_selected: usize,
    pub checks: Vec<Check>,
    pub tables_without_key: Vec<String>,
    pub lob_columns: Vec<LobLine>,
    pub lob: LobDecision,
}

fn check(level: Level, topic: &str, message: String, items: Vec<String>) -> Check {
    Check {
        level,
        topic: topic.into(),
        message,
        items,
    }
}

impl Report {
    /// Build the report for the tables `plan` selected.
    pub fn build(input: &PlanInput, opts: &PlanOptions, plan: &Plan) -> Report {
        let s = &input.settings;
        let tables = crate::plan::in_scope(input, &opts.filters);
        let mut checks = Vec::new();

        // Logical decoding.
        let rds = s.rds_logical_replication.as_deref();
        if s.wal_level == "logical" {
            checks.push(check(
                Level::Ok,
                "wal_level",
                "wal_level = logical".into(),
                vec![],
            ));
        } else {
            let how = if rds.is_some() {
                "set rds.logical_replication = 1 in the DB parameter group and reboot"
            } else {
                "set wal_level = logical and restart"
            };
            checks.push(check(
                Level::Fail,
                "wal_level",
                format!("wal_level = {}: CDC needs logical; {how}", s.wal_level),
                vec![],
            ));
        }
        if let Some(v) = rds {
            let on = matches!(v, "on" | "1" | "true");
            checks.push(check(
                if on { Level::Ok } else { Level::Fail },
                "rds.logical_replication",
                format!("rds.logical_replication = {v}"),
                vec![],
            ));
        }

        // Slots and senders: DMS takes one of each per task.
        for (topic, used, max) in [
            (
                "replication slots",
                s.replication_slots_used,
                s.max_replication_slots,
            ),
            ("WAL senders", s.wal_senders_used, s.max_wal_senders),
        ] {
            let free = max - used;
            let level = if free < 1 { Level::Fail } else { Level::Ok };
            checks.push(check(
                level,
                topic,
                format!("{used} of {max} {topic} in use, {free} free (a DMS task needs 1)"),
                vec![],
            ));
        }

        // Keys.
        let without_key: Vec<String> = tables
            .iter()
            .filter(|t| t.lacks_key())
            .map(|t| t.qualified())
            .collect();
        checks.push(if without_key.is_empty() {
            check(
                Level::Ok,
                "keys",
                "every selected table has a primary or unique key".into(),
                vec![],
            )
        } else {
            check(
                Level::Warn,
                "keys",
                format!(
                    "{} tables without a primary or unique key: CDC loses their UPDATEs and \
                     DELETEs (add a key, or move them outside CDC)",
                    without_key.len()
                ),
                without_key.clone(),
            )
        });

        let unlogged: Vec<String> = tables
            .iter()
            .filter(|t| t.unlogged)
            .map(|t| t.qualified())
            .collect();
        if !unlogged.is_empty() {
            checks.push(check(
                Level::Warn,
                "unlogged tables",
                format!(
                    "{} unlogged tables: they write no WAL, so CDC never sees their changes",
                    unlogged.len()
                ),
                unlogged,
            ));
        }

        // LOBs.
        let mut lob_columns = Vec::new();
        for t in &tables {
            for c in &t.lob_columns {
                lob_columns.push(LobLine {
                    table: t.qualified(),
                    column: c.name.clone(),
                    type_name: c.type_name.clone(),
                    kind: c.kind,
                    max_bytes: c.max_bytes,
                });
            }
        }
        let lob_items: Vec<String> = lob_columns
            .iter()
            .map(|l| {
                format!(
                    "{}.{} {} max {}",
                    l.table,
                    l.column,
                    l.type_name,
                    l.max_bytes
                        .map(human_bytes)
                        .unwrap_or_else(|| "empty".into())
                )
            })
            .collect();
        let lob_message = match &plan.lob.mode {
            LobMode::None => "no LOB columns: LOB support off".to_string(),
            LobMode::Limited { lob_max_kb } => format!(
                "{} LOB columns; largest value {}: limited LOB mode, LobMaxSize = {lob_max_kb} KB \
                 (DMS silently truncates anything larger)",
                lob_columns.len(),
                largest_text(&plan.lob)
            ),
            LobMode::Full { inline_kb } => format!(
                "{} LOB columns; largest value {} is past limited mode's {} KB: full LOB mode \
                 (slower), InlineLobMaxSize = {inline_kb} KB",
                lob_columns.len(),
                largest_text(&plan.lob),
                crate::plan::LIMITED_LOB_MAX_KB
            ),
        };
        checks.push(check(
            if lob_columns.is_empty() {
                Level::Ok
            } else {
                Level::Info
            },
            "LOB columns",
            lob_message,
            lob_items,
        ));

        let odd: Vec<String> = tables
            .iter()
            .flat_map(|t| {
                t.odd_columns.iter().map(move |c| {
                    format!("{}.{} {}: {}", t.qualified(), c.name, c.type_name, c.note)
                })
            })
            .collect();
        if !odd.is_empty() {
            checks.push(check(
                Level::Warn,
                "types",
                format!("{} columns of types DMS handles badly", odd.len()),
                odd,
            ));
        }

        let generated: Vec<String> = tables
            .iter()
            .flat_map(|t| {
                t.generated_columns
                    .iter()
                    .map(move |c| format!("{}.{}", t.qualified(), c))
            })
            .collect();
        if !generated.is_empty() {
            checks.push(check(
                Level::Info,
                "generated columns",
                format!(
                    "{} generated columns: left out of the task by remove-column rules; the \
                     target computes them",
                    generated.len()
                ),
                generated,
            ));
        }

        let identity: Vec<String> = tables
            .iter()
            .flat_map(|t| {
                t.identity_always_columns
                    .iter()
                    .map(move |c| format!("{}.{}", t.qualified(), c))
            })
            .collect();
        if !identity.is_empty() {
            checks.push(check(
                Level::Warn,
                "identity columns",
                format!(
                    "{} GENERATED ALWAYS identity columns: DMS inserts explicit values, which \
                     the target refuses; make them BY DEFAULT on the target during the move",
                    identity.len()
                ),
                identity,
            ));
        }

        let parents: Vec<String> = input
            .tables
            .iter()
            .filter(|t| t.kind == TableKind::PartitionedParent)
            .map(|t| t.qualified())
            .collect();
        if !parents.is_empty() {
            let leaves = tables
                .iter()
                .filter(|t| t.kind == TableKind::LeafPartition)
                .count();
            checks.push(check(
                Level::Info,
                "partitions",
                format!(
                    "{} partitioned tables are not selected (their rows would load twice); their \
                     {leaves} leaf partitions are",
                    parents.len()
                ),
                parents,
            ));
        }

        checks.push(check(
            Level::Warn,
            "sequences",
            format!(
                "DMS does not move sequences: {} sequences must be set on the target after \
                 cut-over (pgmove's sequence step)",
                s.sequences
            ),
            vec![],
        ));

        Report {
            database: input.database.clone(),
            server_version: s.server_version.clone(),
            tables_selected: tables.len(),
            checks,
            tables_without_key: without_key,
            lob_columns,
            lob: plan.lob.clone(),
        }
    }

    /// Whether a check failed (CDC cannot work as things are).
    pub fn has_failures(&self) -> bool {
        self.checks.iter().any(|c| c.level == Level::Fail)
    }

    /// The report as text, for the screen and `preflight.txt`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "DMS preflight for database {} (PostgreSQL {}): {} tables selected",
            self.database, self.server_version, self.tables_selected
        );
        for c in &self.checks {
            let tag = match c.level {
                Level::Ok => "ok  ",
                Level::Info => "info",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            let _ = writeln!(out, "[{tag}] {}: {}", c.topic, c.message);
            for i in &c.items {
                let _ = writeln!(out, "         {i}");
            }
        }
        out
    }
}

fn largest_text(lob: &LobDecision) -> String {
    match &lob.largest {
        Some((t, c, b)) => format!("{} in {t}.{c}", human_bytes(*b)),
        None => "none".into(),
    }
}

/// Bytes as `123 B`, `4.2 KB`, `1.5 MB` (1024-based, as DMS's KB are).
pub fn human_bytes(b: i64) -> String {
    let f = b as f64;
    if b < 1024 {
        format!("{b} B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.1} KB", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MB", f / 1024.0 / 1024.0)
    } else {
        format!("{:.1} GB", f / 1024.0 / 1024.0 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{render, LobColumn, PlanTable, SourceSettings};

    #[test]
    fn report_names_keyless_tables_lobs_and_bad_settings() {
        let mut t = PlanTable {
            schema: "public".into(),
            name: "log".into(),
            kind: TableKind::Regular,
            parent: None,
            has_primary_key: false,
            has_unique_key: false,
            replica_identity: "d".into(),
            unlogged: false,
            estimated_rows: 0,
            lob_columns: vec![LobColumn {
                name: "body".into(),
                type_name: "text".into(),
                kind: LobKind::Nclob,
                max_bytes: Some(5000),
            }],
            generated_columns: vec![],
            identity_always_columns: vec![],
            odd_columns: vec![],
        };
        let input = PlanInput {
            database: "db".into(),
            tables: vec![t.clone()],
            settings: SourceSettings {
                wal_level: "replica".into(),
                max_replication_slots: 10,
                max_wal_senders: 10,
                ..Default::default()
            },
        };
        let opts = PlanOptions::default();
        let plan = render(&input, &opts);
        let r = Report::build(&input, &opts, &plan);
        assert!(r.has_failures());
        assert_eq!(r.tables_without_key, ["public.log"]);
        let text = r.render();
        assert!(text.contains("[FAIL] wal_level"), "{text}");
        assert!(text.contains("public.log.body text max 4.9 KB"), "{text}");
        assert!(text.contains("sequences"), "{text}");
        t.has_unique_key = true;
        let input = PlanInput {
            tables: vec![t],
            ..input
        };
        let r = Report::build(&input, &opts, &render(&input, &opts));
        assert!(r.tables_without_key.is_empty());
    }
}
