//! `dms plan` on real schemas (pagila with its data, musicbrainz): the JSON has what DMS's
//! documented schema requires, and the preflight names every keyless table and every LOB column
//! with its size, checked against independent catalog queries.
mod support;

use pgmove_dms::plan::{self, LobMode, PlanOptions};
use pgmove_testkit::{Cluster, Major};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// Lines of `psql -At` output.
fn rows(c: &Cluster, db: &str, sql: &str) -> Vec<String> {
    c.psql(db, &["-At", "-c", sql])
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Tables holding rows (regular and leaf partitions) without a primary key or unique index,
/// written independently of `source.rs` (information_schema constraints plus unique indexes).
const KEYLESS_SQL: &str = "
select n.nspname || '.' || c.relname
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
   and n.nspname not like 'pg_toast%'
   and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
   and not exists (select 1 from information_schema.table_constraints tc
                    where tc.table_schema = n.nspname and tc.table_name = c.relname
                      and tc.constraint_type in ('PRIMARY KEY', 'UNIQUE'))
   and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisunique
                    and i.indpred is null and i.indexprs is null)
 order by 1";

/// LOB columns by information_schema's view of types (domains resolved there).
const LOB_SQL: &str = "
select col.table_schema || '.' || col.table_name || '.' || col.column_name
  from information_schema.columns col
  join pg_namespace n on n.nspname = col.table_schema
  join pg_class c on c.relnamespace = n.oid and c.relname = col.table_name and c.relkind = 'r'
 where col.table_schema not in ('pg_catalog', 'information_schema')
   and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
   and col.is_generated = 'NEVER'
   and (col.data_type in ('text', 'bytea', 'json', 'jsonb', 'xml', 'ARRAY')
        or (col.data_type = 'character varying' and col.character_maximum_length is null)
        or (col.data_type = 'USER-DEFINED' and col.udt_name = 'hstore'))
 order by 1";

/// What DMS's table-mapping documentation requires of each rule.
fn check_table_mappings(v: &Value) {
    let rules = v["rules"].as_array().expect("rules array");
    assert!(!rules.is_empty());
    let mut ids = HashSet::new();
    for r in rules {
        let id = r["rule-id"].as_str().expect("rule-id is a string");
        assert!(id.chars().all(|c| c.is_ascii_digit()), "{r}");
        assert!(ids.insert(id.to_string()), "duplicate rule-id {id}");
        assert!(r["rule-name"].is_string(), "{r}");
        let loc = &r["object-locator"];
        assert!(
            loc["schema-name"].is_string() && loc["table-name"].is_string(),
            "{r}"
        );
        match r["rule-type"].as_str() {
            Some("selection") => {
                assert_eq!(r["rule-action"], "include", "{r}");
                assert!(r["filters"].is_array(), "{r}");
            }
            Some("transformation") => {
                assert_eq!(r["rule-target"], "column", "{r}");
                assert_eq!(r["rule-action"], "remove-column", "{r}");
                assert!(loc["column-name"].is_string(), "{r}");
            }
            other => panic!("unknown rule-type {other:?}"),
        }
    }
}

/// Task settings keys and values DMS documents, and the runbook's choices.
fn check_task_settings(v: &Value, lob: &LobMode) {
    const SECTIONS: &[&str] = &[
        "TargetMetadata",
        "FullLoadSettings",
        "Logging",
        "ControlTablesSettings",
        "StreamBufferSettings",
        "ChangeProcessingDdlHandlingPolicy",
        "ChangeProcessingTuning",
        "ErrorBehavior",
        "ValidationSettings",
    ];
    for k in v.as_object().unwrap().keys() {
        assert!(SECTIONS.contains(&k.as_str()), "undocumented section {k}");
    }
    let tm = &v["TargetMetadata"];
    for k in [
        "SupportLobs",
        "FullLobMode",
        "LimitedSizeLobMode",
        "BatchApplyEnabled",
    ] {
        assert!(tm[k].is_boolean(), "TargetMetadata.{k}");
    }
    for k in ["LobMaxSize", "LobChunkSize", "InlineLobMaxSize"] {
        assert!(tm[k].is_i64(), "TargetMetadata.{k}");
    }
    let fl = &v["FullLoadSettings"];
    assert_eq!(fl["TargetTablePrepMode"], "DO_NOTHING");
    assert_eq!(fl["StopTaskCachedChangesNotApplied"], true);
    assert_eq!(fl["StopTaskCachedChangesApplied"], false);
    let subtasks = fl["MaxFullLoadSubTasks"].as_i64().unwrap();
    assert!((1..=49).contains(&subtasks));
    match lob {
        LobMode::Limited { lob_max_kb } => {
            assert_eq!(tm["SupportLobs"], true);
            assert_eq!(tm["LimitedSizeLobMode"], true);
            assert_eq!(tm["FullLobMode"], false);
            assert_eq!(tm["LobMaxSize"].as_i64(), Some(*lob_max_kb));
        }
        LobMode::Full { .. } => assert_eq!(tm["FullLobMode"], true),
        LobMode::None => assert_eq!(tm["SupportLobs"], false),
    }
    let eb = &v["ErrorBehavior"];
    for k in [
        "DataErrorPolicy",
        "TableErrorPolicy",
        "ApplyErrorUpdatePolicy",
    ] {
        assert!(eb[k].is_string(), "ErrorBehavior.{k}");
    }
}

fn read_json(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

async fn plan_and_check(c: &Cluster, db: &str, opts: &PlanOptions) -> plan::PlanOutcome {
    let out = tempfile::tempdir().unwrap();
    let outcome = plan::run(&c.conninfo(db), out.path(), opts).await.unwrap();
    let mappings = read_json(out.path(), plan::TABLE_MAPPINGS_FILE);
    let settings = read_json(out.path(), plan::TASK_SETTINGS_FILE);
    check_table_mappings(&mappings);
    check_task_settings(&settings, &outcome.plan.lob.mode);
    let text = std::fs::read_to_string(out.path().join(plan::PREFLIGHT_FILE)).unwrap();
    assert_eq!(text, outcome.report.render());
    assert!(out.path().join(plan::PREFLIGHT_JSON_FILE).exists());

    // Every keyless table is named, and only those.
    let keyless: BTreeSet<String> = rows(c, db, KEYLESS_SQL).into_iter().collect();
    let reported: BTreeSet<String> = outcome.report.tables_without_key.iter().cloned().collect();
    assert_eq!(reported, keyless);
    for t in &keyless {
        assert!(
            text.contains(&format!("         {t}\n")),
            "{t} missing:\n{text}"
        );
    }
    // Every LOB column is named with its size. information_schema has is_generated from 12;
    // before, no column is generated.
    let lob_sql = if c.major() >= 12 {
        LOB_SQL.to_string()
    } else {
        LOB_SQL.replace("   and col.is_generated = 'NEVER'\n", "")
    };
    let lobs: BTreeSet<String> = rows(c, db, &lob_sql).into_iter().collect();
    let reported: BTreeSet<String> = outcome
        .report
        .lob_columns
        .iter()
        .map(|l| format!("{}.{}", l.table, l.column))
        .collect();
    assert_eq!(reported, lobs);
    for l in &outcome.report.lob_columns {
        let line = format!("         {}.{} {} max ", l.table, l.column, l.type_name);
        assert!(text.contains(&line), "{line:?} missing:\n{text}");
    }
    // Every selected table holds rows (no partitioned parent), and each has a rule.
    let parents: HashSet<String> = rows(
        c,
        db,
        "select n.nspname || '.' || c.relname from pg_class c
           join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'p'",
    )
    .into_iter()
    .collect();
    assert!(outcome.plan.selected.iter().all(|t| !parents.contains(t)));
    let selections = mappings["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule-type"] == "selection")
        .count();
    assert_eq!(selections, outcome.plan.selected.len());
    println!("{text}");
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_pagila() {
    let c = Cluster::builder(15)
        .setting("wal_level", "logical")
        .start()
        .unwrap();
    c.create_db("pagila").unwrap();
    let dir = support::corpus().join("pagila");
    c.load_files(
        "pagila",
        &[&dir.join("pagila-schema.sql"), &dir.join("pagila-data.sql")],
        &[],
    )
    .unwrap();
    let outcome = plan_and_check(&c, "pagila", &PlanOptions::default()).await;

    // The partitions of payment are selected, the partitioned parent is not.
    let sel = &outcome.plan.selected;
    assert!(!sel.contains(&"public.payment".to_string()));
    let leaves = sel
        .iter()
        .filter(|t| t.starts_with("public.payment_p"))
        .count();
    assert_eq!(leaves, 7, "{sel:?}");
    // wal_level = logical on this cluster: no failure there.
    assert!(
        !outcome.report.has_failures(),
        "{}",
        outcome.report.render()
    );

    // LOB sizes are the real maxima.
    let max: i64 = rows(
        &c,
        "pagila",
        "select max(octet_length(description)) from public.film",
    )[0]
    .parse()
    .unwrap();
    let film = outcome
        .report
        .lob_columns
        .iter()
        .find(|l| l.table == "public.film" && l.column == "description")
        .unwrap();
    assert_eq!(film.max_bytes, Some(max));
    let largest = outcome.plan.lob.largest.clone().unwrap();
    match outcome.plan.lob.mode {
        LobMode::Limited { lob_max_kb } => assert!(lob_max_kb * 1024 >= largest.2),
        ref m => panic!("pagila's LOBs fit limited mode, got {m:?}"),
    }

    // Filters: one schema's one table.
    let opts = PlanOptions {
        filters: plan::Filters {
            include_tables: vec!["public.payment".into(), "public.actor".into()],
            ..Default::default()
        },
        validation: true,
        ..Default::default()
    };
    let only = plan_and_check_filtered(&c, &opts).await;
    assert_eq!(only.plan.selected.len(), 8, "{:?}", only.plan.selected);
    assert_eq!(
        only.plan.task_settings["ValidationSettings"]["EnableValidation"],
        true
    );
}

async fn plan_and_check_filtered(c: &Cluster, opts: &PlanOptions) -> plan::PlanOutcome {
    let out = tempfile::tempdir().unwrap();
    let outcome = plan::run(&c.conninfo("pagila"), out.path(), opts)
        .await
        .unwrap();
    check_table_mappings(&read_json(out.path(), plan::TABLE_MAPPINGS_FILE));
    check_task_settings(
        &read_json(out.path(), plan::TASK_SETTINGS_FILE),
        &outcome.plan.lob.mode,
    );
    outcome
}

/// Sources before 10 (9.4, 9.6), with what a 9.4 database can hold: the planner's reads work
/// there (sequences without pg_sequence, no partitions, settings before current_setting's
/// missing_ok), and the plan passes the same checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_9_4_and_9_6_sources() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/v94_objects.sql");
    for major in [Major::V9_4, Major::V9_6] {
        let c = Cluster::builder(major)
            .setting("wal_level", "logical")
            .setting("max_replication_slots", "4")
            .setting("max_wal_senders", "4")
            .start()
            .unwrap();
        c.create_db("v94").unwrap();
        let errors = c.load_files("v94", &[&fixture], &[]).unwrap();
        assert!(
            !errors.contains("ERROR"),
            "{major}: the fixture fails to load:\n{errors}"
        );
        let outcome = plan_and_check(&c, "v94", &PlanOptions::default()).await;
        let sel = &outcome.plan.selected;
        for t in ["v94.account", "v94.event_2020", "v94.scratch", "v94.typed"] {
            assert!(
                sel.contains(&t.to_string()),
                "{major}: {t} not selected: {sel:?}"
            );
        }
        assert!(
            !sel.iter().any(|t| t == "v94.remote_thing"),
            "{major}: a foreign table selected: {sel:?}"
        );
        let version = &outcome.report.server_version;
        assert!(
            version.starts_with(&format!("{major}.")),
            "{major}: {version}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_musicbrainz() {
    let c = Cluster::start(15).unwrap();
    c.create_db("musicbrainz").unwrap();
    let dir = support::corpus().join("musicbrainz");
    c.load_files("musicbrainz", &[&dir.join("load_all.sql")], &[])
        .unwrap();
    // Some rows, so sizes are not all empty: a known LOB column gets a 100 kB value.
    c.sql(
        "musicbrainz",
        "set session_replication_role = replica;
         insert into musicbrainz.editor (id, name, password, ha1, bio)
         values (999999, 'pgmove-test', 'p', 'h', repeat('b', 100000))",
    )
    .unwrap();
    let outcome = plan_and_check(&c, "musicbrainz", &PlanOptions::default()).await;
    assert!(
        outcome.plan.selected.len() > 300,
        "{}",
        outcome.plan.selected.len()
    );
    // wal_level is replica on this cluster: the preflight fails it.
    assert!(outcome.report.has_failures());
    assert!(outcome.report.render().contains("[FAIL] wal_level"));
    let bio = outcome
        .report
        .lob_columns
        .iter()
        .find(|l| l.table == "musicbrainz.editor" && l.column == "bio")
        .unwrap();
    assert_eq!(bio.max_bytes, Some(100_000));
    assert_eq!(outcome.plan.lob.mode, LobMode::Limited { lob_max_kb: 123 });
    // Built-in types DMS moves well (uuid, timestamps...) are not flagged; extension ones are.
    let text = outcome.report.render();
    assert!(!text.contains(" uuid: "), "{text}");
    assert!(
        text.contains("musicbrainz.place.coordinates point: geometric type"),
        "{text}"
    );
}
