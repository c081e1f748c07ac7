//! `pgmove dms plan`: from the source catalog, the two JSON documents a DMS task needs.
//!
//! Everything here but [`run`] is pure: a [`PlanInput`] (what [`crate::source`] read from the
//! source) goes in, [`Plan`] (table mappings, task settings, the LOB decision) comes out, so it
//! unit-tests without a server.
//!
//! - `table-mappings.json`: one `selection` rule per table in scope, naming it exactly (DMS names
//!   are `LIKE` patterns, so `_`, `%` and `[` are escaped). Leaf partitions are selected, their
//!   partitioned parents never are: selecting both would load every row twice. Generated columns
//!   get a `remove-column` transformation rule: the target computes them and refuses values.
//! - `task-settings.json`: for a schema pgmove pre-creates (`TargetTablePrepMode: DO_NOTHING`),
//!   limited LOB mode sized from the LOB columns' real maximum sizes, and
//!   `StopTaskCachedChangesNotApplied` so post-data keys are built before cached changes apply.
//!
//! [`PlanInput`] is derived from `pgmove_core::model` by [`crate::classify::from_catalog`] (pure),
//! plus the LOB sizes and server settings [`crate::source`] measures; [`PlanTable`] is that
//! per-table DMS view (what to select, what is a LOB, what DMS moves badly), not a second
//! catalog reader.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// How a relation takes part in partitioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// A plain table (not partitioned, not a partition).
    Regular,
    /// A partitioned table (relkind `p`): holds no rows itself. Never selected.
    PartitionedParent,
    /// A partition that holds rows (relkind `r`, `relispartition`). Selected.
    LeafPartition,
}

/// What DMS turns a PostgreSQL LOB column into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LobKind {
    /// Character LOB (text, json, jsonb, xml, arrays, hstore, unbounded varchar).
    Nclob,
    /// Binary LOB (bytea).
    Blob,
}

/// A column DMS moves as a LOB, with the largest value found on the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobColumn {
    pub name: String,
    /// The declared type, as `format_type` prints it.
    pub type_name: String,
    pub kind: LobKind,
    /// Largest value in bytes; `None` when the table is empty or the column is all NULL.
    pub max_bytes: Option<i64>,
}

/// A column whose type DMS is known to move badly or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OddColumn {
    pub name: String,
    pub type_name: String,
    /// Why it needs a look, in a few words.
    pub note: String,
}

/// One table of the source as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTable {
    pub schema: String,
    pub name: String,
    pub kind: TableKind,
    /// For a partition, its partitioned parent `(schema, name)`.
    pub parent: Option<(String, String)>,
    pub has_primary_key: bool,
    /// A valid, non-partial unique index on plain columns.
    pub has_unique_key: bool,
    /// `pg_class.relreplident`: `d` default, `f` full, `i` index, `n` nothing.
    pub replica_identity: String,
    /// Unlogged tables write no WAL: CDC never sees their changes.
    pub unlogged: bool,
    /// `pg_class.reltuples` (an estimate; -1/0 when never analyzed).
    pub estimated_rows: i64,
    pub lob_columns: Vec<LobColumn>,
    /// `GENERATED ALWAYS AS (...) STORED` columns.
    pub generated_columns: Vec<String>,
    /// `GENERATED ALWAYS AS IDENTITY` columns (refuse explicit values without OVERRIDING).
    pub identity_always_columns: Vec<String>,
    pub odd_columns: Vec<OddColumn>,
}

impl PlanTable {
    /// A table with no key: DMS's CDC cannot apply its updates and deletes.
    pub fn lacks_key(&self) -> bool {
        !self.has_primary_key && !self.has_unique_key
    }
    /// Whether DMS should select this relation (it holds rows).
    pub fn holds_rows(&self) -> bool {
        self.kind != TableKind::PartitionedParent
    }
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// Server settings that decide whether CDC can work at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSettings {
    pub server_version: String,
    pub server_version_num: i32,
    pub wal_level: String,
    /// `rds.logical_replication` on RDS/Aurora; `None` elsewhere.
    pub rds_logical_replication: Option<String>,
    pub max_replication_slots: i32,
    pub replication_slots_used: i32,
    pub max_wal_senders: i32,
    pub wal_senders_used: i32,
    /// Sequences in scope (DMS moves none of them).
    pub sequences: i64,
}

/// Everything the plan is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    pub database: String,
    pub tables: Vec<PlanTable>,
    pub settings: SourceSettings,
}

/// Which tables are in scope, with the patterns of pgmove's other commands (psql's rules, see
/// [`pgmove_core::filter`]): schemas as `-n` reads them, tables as `-t` (`table` or
/// `schema.table`); an empty include list means everything. A partition matches through its
/// own name or its parent's. A malformed pattern matches nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    pub include_schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
    pub include_tables: Vec<String>,
    pub exclude_tables: Vec<String>,
}

impl Filters {
    /// Whether table `schema.name` is in scope.
    pub fn matches(&self, schema: &str, name: &str) -> bool {
        use pgmove_core::filter::{schema_pattern, TablePattern};
        let schema_hit = |p: &String| schema_pattern(p).is_ok_and(|p| p.matches(schema));
        let table_hit = |p: &String| TablePattern::parse(p).is_ok_and(|p| p.matches(schema, name));
        (self.include_schemas.is_empty() || self.include_schemas.iter().any(schema_hit))
            && !self.exclude_schemas.iter().any(schema_hit)
            && (self.include_tables.is_empty() || self.include_tables.iter().any(table_hit))
            && !self.exclude_tables.iter().any(table_hit)
    }

    /// Whether table `t` is in scope, through its own name or its partition parent's.
    pub fn matches_table(&self, t: &PlanTable) -> bool {
        match &t.parent {
            Some((ps, pn)) => self.matches(&t.schema, &t.name) || self.matches(ps, pn),
            None => self.matches(&t.schema, &t.name),
        }
    }
}

/// Choices the user makes on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub filters: Filters,
    /// Add `ValidationSettings` with validation enabled (row-level compare after load and CDC).
    pub validation: bool,
    /// Percent added to the largest LOB before rounding up to KB (default 25).
    pub lob_headroom_percent: u32,
    /// Tables loaded in parallel (`MaxFullLoadSubTasks`, 1..=49; default 8).
    pub max_full_load_subtasks: u32,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            filters: Filters::default(),
            validation: false,
            lob_headroom_percent: 25,
            max_full_load_subtasks: 8,
        }
    }
}

/// The largest `LobMaxSize` (KB) DMS accepts in limited LOB mode and that AWS advises.
pub const LIMITED_LOB_MAX_KB: i64 = 102_400;
/// DMS's own default `LobMaxSize` (KB); the plan never goes below it.
pub const DEFAULT_LOB_MAX_KB: i64 = 32;

/// How LOBs will be moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LobMode {
    /// No LOB column in scope: `SupportLobs: false`.
    None,
    /// Limited LOB mode, `LobMaxSize` KB: every LOB in scope fits.
    Limited { lob_max_kb: i64 },
    /// A LOB is larger than [`LIMITED_LOB_MAX_KB`]: full LOB mode (slow but never truncates),
    /// with LOBs up to `inline_kb` sent inline.
    Full { inline_kb: i64 },
}

/// The decision on LOBs, with what it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobDecision {
    pub mode: LobMode,
    /// The largest LOB in scope: `(table, column, bytes)`.
    pub largest: Option<(String, String, i64)>,
}

/// The plan: both JSON documents and the decisions behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub table_mappings: Value,
    pub task_settings: Value,
    pub lob: LobDecision,
    /// Tables selected, `schema.name`, in order.
    pub selected: Vec<String>,
}

/// Escape a name for a DMS object-locator (`LIKE`-style: `%`, `_`, `[...]` are wildcards).
pub fn dms_literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '_' => out.push_str("[_]"),
            '%' => out.push_str("[%]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

/// Tables in scope that hold rows, sorted by schema and name.
pub fn in_scope<'a>(input: &'a PlanInput, filters: &Filters) -> Vec<&'a PlanTable> {
    let mut v: Vec<&PlanTable> = input
        .tables
        .iter()
        .filter(|t| t.holds_rows() && filters.matches_table(t))
        .collect();
    v.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    v
}

/// Decide the LOB mode from the real maximum sizes of the LOB columns in scope.
pub fn decide_lobs(tables: &[&PlanTable], headroom_percent: u32) -> LobDecision {
    let mut largest: Option<(String, String, i64)> = None;
    let mut any_lob = false;
    for t in tables {
        for c in &t.lob_columns {
            any_lob = true;
            let b = c.max_bytes.unwrap_or(0);
            if largest.as_ref().is_none_or(|(_, _, m)| b > *m) {
                largest = Some((t.qualified(), c.name.clone(), b));
            }
        }
    }
    if !any_lob {
        return LobDecision {
            mode: LobMode::None,
            largest: None,
        };
    }
    let max = largest.as_ref().map(|l| l.2).unwrap_or(0);
    let with_headroom = max + max * i64::from(headroom_percent) / 100;
    let kb = ((with_headroom + 1023) / 1024).max(DEFAULT_LOB_MAX_KB);
    let mode = if kb <= LIMITED_LOB_MAX_KB {
        LobMode::Limited { lob_max_kb: kb }
    } else {
        LobMode::Full { inline_kb: 64 }
    };
    LobDecision { mode, largest }
}

/// Render the plan. Pure.
pub fn render(input: &PlanInput, opts: &PlanOptions) -> Plan {
    let tables = in_scope(input, &opts.filters);
    let mut rules = Vec::new();
    let mut id = 0u32;
    let mut next = || {
        id += 1;
        id
    };
    for t in &tables {
        let n = next();
        rules.push(json!({
            "rule-type": "selection",
            "rule-id": n.to_string(),
            "rule-name": format!("include-{}", n),
            "object-locator": {
                "schema-name": dms_literal(&t.schema),
                "table-name": dms_literal(&t.name),
            },
            "rule-action": "include",
            "filters": [],
        }));
    }
    for t in &tables {
        for col in &t.generated_columns {
            let n = next();
            rules.push(json!({
                "rule-type": "transformation",
                "rule-id": n.to_string(),
                "rule-name": format!("drop-generated-{}", n),
                "rule-target": "column",
                "object-locator": {
                    "schema-name": dms_literal(&t.schema),
                    "table-name": dms_literal(&t.name),
                    "column-name": dms_literal(col),
                },
                "rule-action": "remove-column",
            }));
        }
    }
    let table_mappings = json!({ "rules": rules });
    let lob = decide_lobs(&tables, opts.lob_headroom_percent);
    let task_settings = task_settings(&lob, opts);
    Plan {
        table_mappings,
        task_settings,
        lob,
        selected: tables.iter().map(|t| t.qualified()).collect(),
    }
}

fn task_settings(lob: &LobDecision, opts: &PlanOptions) -> Value {
    let (support, full, limited, lob_max, inline) = match lob.mode {
        LobMode::None => (false, false, false, 0, 0),
        LobMode::Limited { lob_max_kb } => (true, false, true, lob_max_kb, 0),
        LobMode::Full { inline_kb } => (true, true, false, 0, inline_kb),
    };
    let mut settings = json!({
        "TargetMetadata": {
            "TargetSchema": "",
            "SupportLobs": support,
            "FullLobMode": full,
            "LobChunkSize": 64,
            "LimitedSizeLobMode": limited,
            "LobMaxSize": lob_max,
            "InlineLobMaxSize": inline,
            "LoadMaxFileSize": 0,
            "ParallelLoadThreads": 0,
            "ParallelLoadBufferSize": 0,
            "BatchApplyEnabled": false,
            "TaskRecoveryTableEnabled": false,
        },
        "FullLoadSettings": {
            // pgmove pre-creates the tables (pre-data); DMS must neither drop nor truncate them.
            "TargetTablePrepMode": "DO_NOTHING",
            "CreatePkAfterFullLoad": false,
            // Stop after the full load, before cached changes apply: pgmove builds the post-data
            // keys and indexes then, and `pgmove dms start` resumes.
            "StopTaskCachedChangesApplied": false,
            "StopTaskCachedChangesNotApplied": true,
            "MaxFullLoadSubTasks": opts.max_full_load_subtasks.clamp(1, 49),
            "TransactionConsistencyTimeout": 600,
            "CommitRate": 10000,
        },
        "Logging": {
            "EnableLogging": true,
            "LogComponents": [
                {"Id": "SOURCE_UNLOAD", "Severity": "LOGGER_SEVERITY_DEFAULT"},
                {"Id": "SOURCE_CAPTURE", "Severity": "LOGGER_SEVERITY_DEFAULT"},
                {"Id": "TARGET_LOAD", "Severity": "LOGGER_SEVERITY_DEFAULT"},
                {"Id": "TARGET_APPLY", "Severity": "LOGGER_SEVERITY_DEFAULT"},
                {"Id": "TASK_MANAGER", "Severity": "LOGGER_SEVERITY_DEFAULT"},
            ],
        },
        "ControlTablesSettings": {
            "ControlSchema": "",
            "HistoryTimeslotInMinutes": 5,
            "HistoryTableEnabled": false,
            "SuspendedTablesTableEnabled": false,
            "StatusTableEnabled": false,
        },
        "StreamBufferSettings": {
            "StreamBufferCount": 3,
            "StreamBufferSizeInMB": 8,
            "CtrlStreamBufferSizeInMB": 5,
        },
        "ChangeProcessingDdlHandlingPolicy": {
            "HandleSourceTableDropped": false,
            "HandleSourceTableTruncated": true,
            "HandleSourceTableAltered": false,
        },
        "ChangeProcessingTuning": {
            "BatchApplyPreserveTransaction": true,
            "BatchApplyTimeoutMin": 1,
            "BatchApplyTimeoutMax": 30,
            "BatchApplyMemoryLimit": 500,
            "BatchSplitSize": 0,
            "MinTransactionSize": 1000,
            "CommitTimeout": 1,
            "MemoryLimitTotal": 1024,
            "MemoryKeepTime": 60,
            "StatementCacheSize": 50,
        },
        "ErrorBehavior": {
            "DataErrorPolicy": "LOG_ERROR",
            "DataTruncationErrorPolicy": "LOG_ERROR",
            "DataErrorEscalationPolicy": "SUSPEND_TABLE",
            "DataErrorEscalationCount": 0,
            "TableErrorPolicy": "SUSPEND_TABLE",
            "TableErrorEscalationPolicy": "STOP_TASK",
            "TableErrorEscalationCount": 0,
            "RecoverableErrorCount": -1,
            "RecoverableErrorInterval": 5,
            "RecoverableErrorThrottling": true,
            "RecoverableErrorThrottlingMax": 1800,
            "ApplyErrorDeletePolicy": "IGNORE_RECORD",
            "ApplyErrorInsertPolicy": "LOG_ERROR",
            "ApplyErrorUpdatePolicy": "LOG_ERROR",
            "ApplyErrorEscalationPolicy": "LOG_ERROR",
            "ApplyErrorEscalationCount": 0,
            "FullLoadIgnoreConflicts": true,
        },
    });
    if opts.validation {
        settings["ValidationSettings"] = json!({
            "EnableValidation": true,
            "ValidationMode": "ROW_LEVEL",
            "ThreadCount": 5,
            "PartitionSize": 10000,
            "FailureMaxCount": 10000,
            "TableFailureMaxCount": 1000,
            "RecordFailureDelayInMinutes": 5,
            "RecordSuspendDelayInMinutes": 30,
            "MaxKeyColumnSize": 8096,
            "HandleCollationDiff": false,
            "ValidationOnly": false,
            "SkipLobColumns": false,
            "ValidationPartialLobSize": 0,
            "ValidationQueryCdcDelaySeconds": 0,
        });
    }
    settings
}

/// File names written by [`write()`] and [`plan_and_write`] into the plan directory.
pub const TABLE_MAPPINGS_FILE: &str = "table-mappings.json";
pub const TASK_SETTINGS_FILE: &str = "task-settings.json";
pub const PREFLIGHT_FILE: &str = "preflight.txt";
pub const PREFLIGHT_JSON_FILE: &str = "preflight.json";

/// Write `table-mappings.json` and `task-settings.json` (pretty JSON, as the terraform module's
/// `file()` reads them) into `dir`, creating it. Returns the paths written.
pub fn write(plan: &Plan, dir: &Path) -> crate::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::file(dir, e))?;
    let mut written = Vec::new();
    for (name, v) in [
        (TABLE_MAPPINGS_FILE, &plan.table_mappings),
        (TASK_SETTINGS_FILE, &plan.task_settings),
    ] {
        let p = dir.join(name);
        let mut text = serde_json::to_string_pretty(v).expect("JSON values always serialize");
        text.push('\n');
        std::fs::write(&p, text).map_err(|e| crate::Error::file(&p, e))?;
        written.push(p);
    }
    Ok(written)
}

/// What [`run`] produced.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    pub plan: Plan,
    pub report: crate::preflight::Report,
    pub files: Vec<PathBuf>,
}

/// `pgmove dms plan --source CONN --out DIR`: read the source catalog, write
/// `DIR/table-mappings.json`, `DIR/task-settings.json`, `DIR/preflight.txt` and
/// `DIR/preflight.json`. Needs no AWS access. The caller prints `outcome.report.render()`.
pub async fn run(source: &str, out: &Path, opts: &PlanOptions) -> crate::Result<PlanOutcome> {
    let client = crate::source::connect(source).await?;
    let input = crate::source::read(&client, &opts.filters).await?;
    plan_and_write(&input, out, opts)
}

/// The pure part of [`run`] plus file writing, for callers that already hold a [`PlanInput`].
pub fn plan_and_write(
    input: &PlanInput,
    out: &Path,
    opts: &PlanOptions,
) -> crate::Result<PlanOutcome> {
    let plan = render(input, opts);
    let report = crate::preflight::Report::build(input, opts, &plan);
    let mut files = write(&plan, out)?;
    let p = out.join(PREFLIGHT_FILE);
    std::fs::write(&p, report.render()).map_err(|e| crate::Error::file(&p, e))?;
    files.push(p);
    let p = out.join(PREFLIGHT_JSON_FILE);
    let mut text = serde_json::to_string_pretty(&report).expect("report serializes");
    text.push('\n');
    std::fs::write(&p, text).map_err(|e| crate::Error::file(&p, e))?;
    files.push(p);
    Ok(PlanOutcome {
        plan,
        report,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn table(schema: &str, name: &str) -> PlanTable {
        PlanTable {
            schema: schema.into(),
            name: name.into(),
            kind: TableKind::Regular,
            parent: None,
            has_primary_key: true,
            has_unique_key: false,
            replica_identity: "d".into(),
            unlogged: false,
            estimated_rows: 0,
            lob_columns: vec![],
            generated_columns: vec![],
            identity_always_columns: vec![],
            odd_columns: vec![],
        }
    }

    #[test]
    fn dms_names_are_escaped() {
        assert_eq!(dms_literal("film_actor"), "film[_]actor");
        assert_eq!(dms_literal("a%b[c"), "a[%]b[[]c");
        assert_eq!(dms_literal("Plain"), "Plain");
    }

    #[test]
    fn filters_read_patterns_as_the_other_commands() {
        let f = Filters {
            include_tables: vec!["public.*".into()],
            exclude_tables: vec!["\"Audit\"".into()],
            ..Default::default()
        };
        assert!(f.matches("public", "film"));
        assert!(!f.matches("other", "film"));
        assert!(!f.matches("public", "Audit"));
        let s = Filters {
            include_schemas: vec!["P?blic".into()],
            ..Default::default()
        };
        assert!(s.matches("public", "x") && !s.matches("Public", "x"));
    }

    #[test]
    fn parents_are_never_selected_and_leaves_are() {
        let mut parent = table("public", "payment");
        parent.kind = TableKind::PartitionedParent;
        let mut leaf = table("public", "payment_p2022_01");
        leaf.kind = TableKind::LeafPartition;
        leaf.parent = Some(("public".into(), "payment".into()));
        let input = PlanInput {
            tables: vec![parent, leaf, table("public", "actor")],
            ..Default::default()
        };
        let plan = render(&input, &PlanOptions::default());
        assert_eq!(plan.selected, ["public.actor", "public.payment_p2022_01"]);
        // Filter on the parent's name still selects its partitions.
        let opts = PlanOptions {
            filters: Filters {
                include_tables: vec!["public.payment".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(render(&input, &opts).selected, ["public.payment_p2022_01"]);
    }

    #[test]
    fn lob_size_from_largest_value() {
        let mut t = table("s", "t");
        t.lob_columns = vec![
            LobColumn {
                name: "a".into(),
                type_name: "text".into(),
                kind: LobKind::Nclob,
                max_bytes: Some(100_000),
            },
            LobColumn {
                name: "b".into(),
                type_name: "bytea".into(),
                kind: LobKind::Blob,
                max_bytes: None,
            },
        ];
        let d = decide_lobs(&[&t], 25);
        // 100000 * 1.25 = 125000 bytes -> 123 KB.
        assert_eq!(d.mode, LobMode::Limited { lob_max_kb: 123 });
        assert_eq!(d.largest, Some(("s.t".into(), "a".into(), 100_000)));
        t.lob_columns[0].max_bytes = Some(10);
        assert_eq!(
            decide_lobs(&[&t], 25).mode,
            LobMode::Limited {
                lob_max_kb: DEFAULT_LOB_MAX_KB
            }
        );
        t.lob_columns[0].max_bytes = Some(200 * 1024 * 1024);
        assert!(matches!(decide_lobs(&[&t], 25).mode, LobMode::Full { .. }));
        assert_eq!(decide_lobs(&[], 25).mode, LobMode::None);
    }

    #[test]
    fn settings_carry_the_runbook_choices() {
        let mut t = table("s", "t");
        t.generated_columns = vec!["total".into()];
        let input = PlanInput {
            tables: vec![t],
            ..Default::default()
        };
        let plan = render(
            &input,
            &PlanOptions {
                validation: true,
                ..Default::default()
            },
        );
        let s = &plan.task_settings;
        assert_eq!(s["FullLoadSettings"]["TargetTablePrepMode"], "DO_NOTHING");
        assert_eq!(
            s["FullLoadSettings"]["StopTaskCachedChangesNotApplied"],
            true
        );
        assert_eq!(s["ValidationSettings"]["EnableValidation"], true);
        assert_eq!(s["TargetMetadata"]["SupportLobs"], false);
        let rules = plan.table_mappings["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1]["rule-action"], "remove-column");
        assert_eq!(rules[1]["object-locator"]["column-name"], "total");
        let plain = render(&input, &PlanOptions::default());
        assert!(plain.task_settings.get("ValidationSettings").is_none());
    }
}
