//! Validation: does the target hold what the source holds? Schema, sequence states and rows.
//!
//! [`run`] reads both catalogs (one snapshot each), diffs their rendered schema
//! ([`schema`]), checks every sequence against the source and its column ([`sequences`]), and
//! compares rows by server-side checksums in chunks on N connection pairs ([`data`]). The
//! result is a [`Report`] that the CLI prints as a table or JSON.
//!
//! Validation must never write to either server: every connection is opened with
//! `default_transaction_read_only = on`, queries are plain `SELECT`s (ACCESS SHARE locks only),
//! and `statement_timeout` is left as the server and role set it unless the caller sets one.

pub mod data;
pub mod schema;
pub mod sequences;
pub mod viewdef;

use crate::conn::{self, ConnSpec};
use crate::filter::Filter;
use crate::model::{class, Catalog, CompactString, Table};
use crate::quote::qualified;
use crate::render::{self, Item};
use crate::{catalog, Error, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use tokio_postgres::Client;

/// What to compare and how hard.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connection pairs for the row checksums.
    pub jobs: usize,
    /// Compare the schema only (no sequence states, no rows).
    pub schema_only: bool,
    /// Rows per key-range chunk.
    pub chunk_rows: i64,
    /// `statement_timeout` to set on every connection (e.g. `30s`); `None` keeps the server's.
    pub statement_timeout: Option<String>,
    /// The same `-n/-N/-t/-T` filters as the migration steps.
    pub filter: Filter,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 4,
            schema_only: false,
            chunk_rows: 100_000,
            statement_timeout: None,
            filter: Filter::default(),
        }
    }
}

/// Everything validation found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source_version: i32,
    pub target_version: i32,
    /// Source objects compared.
    pub schema_objects: usize,
    pub schema: Vec<schema::SchemaDiff>,
    /// Empty with `schema_only`.
    pub sequences: Vec<sequences::SequenceCheck>,
    /// Empty with `schema_only`.
    pub tables: Vec<data::TableResult>,
}

/// The verdict, as the CLI's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Everything compared equal (exit 0).
    Match,
    /// Something differs (exit 1).
    Differ,
    /// Nothing differed, but some tables could not be compared (exit 2).
    Incomplete,
}

impl Report {
    pub fn verdict(&self) -> Verdict {
        let differs = !self.schema.is_empty()
            || self.sequences.iter().any(|s| s.problem.is_some())
            || self
                .tables
                .iter()
                .any(|t| t.differs() && t.status != "error");
        if differs {
            Verdict::Differ
        } else if self.tables.iter().any(|t| t.status == "error") {
            Verdict::Incomplete
        } else {
            Verdict::Match
        }
    }
}

/// Session settings of every validation connection: read-only, and text forms that do not
/// depend on the role's or the server's settings (time zone, date style, bytea, floats).
fn session_setup(timeout: Option<&str>) -> String {
    let mut s = String::from(
        "SET default_transaction_read_only = on;
SET application_name = 'pgmove validate';
SET client_encoding = 'UTF8';
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SET TimeZone = 'UTC';
SET bytea_output = 'hex';
SET extra_float_digits = 1;
SELECT pg_catalog.set_config('search_path', '', false);
",
    );
    // row_security exists from 9.5; a 9.4 source has no row-level security to turn off.
    s += "SELECT pg_catalog.set_config(name, 'off', false) FROM pg_catalog.pg_settings \
          WHERE name = 'row_security';\n";
    if let Some(t) = timeout {
        s += &format!("SET statement_timeout = {};\n", crate::quote::literal(t));
    }
    s
}

async fn open(spec: &ConnSpec, timeout: Option<&str>) -> Result<Client> {
    let c = conn::connect(spec).await?;
    c.batch_execute(&session_setup(timeout))
        .await
        .map_err(|e| Error::db(e, Some(spec.display_safe()), Some("session setup")))?;
    Ok(c)
}

/// What [`run`] is doing, for progress displays.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A stage started: `catalogs`, `sequences` or `rows`.
    Stage(&'a str),
    /// One data chunk done: (chunks done, chunks in all, table).
    Chunk(usize, usize, &'a str),
}

/// The (kind, name) of the rendered items the filter keeps in `cat`: an item predicate for
/// the schema diff that selects exactly what the migration steps would have moved.
fn kept_items(filter: &Filter, cat: &Catalog) -> impl Fn(&Item) -> bool {
    let keep: Option<HashSet<(render::Kind, CompactString)>> = (!filter.is_empty()).then(|| {
        let mut items = render::all(cat, &render::Options::default());
        items.extend(render::setval_items(cat, 0));
        filter
            .apply(cat, items)
            .0
            .into_iter()
            .map(|i| (i.kind, i.name))
            .collect()
    });
    move |i: &Item| {
        keep.as_ref()
            .is_none_or(|k| k.contains(&(i.kind, i.name.clone())))
    }
}

/// Validate `target` against `source`.
pub async fn run(
    source: &ConnSpec,
    target: &ConnSpec,
    opts: &Options,
    mut progress: impl FnMut(Progress<'_>) + Send,
) -> Result<Report> {
    let timeout = opts.statement_timeout.as_deref();
    let (s, t) = futures::join!(open(source, timeout), open(target, timeout));
    let (s, t) = (s?, t?);
    progress(Progress::Stage("catalogs"));
    let (sc, tc) = futures::join!(catalog::read(&s), catalog::read(&t));
    let (sc, tc) = (sc?, tc?);

    let (schema, schema_objects) = schema::diff(
        &sc,
        &tc,
        &render::Options::default(),
        &kept_items(&opts.filter, &sc),
        &kept_items(&opts.filter, &tc),
    );
    let mut report = Report {
        source_version: sc.server_version,
        target_version: tc.server_version,
        schema_objects,
        schema,
        sequences: Vec::new(),
        tables: Vec::new(),
    };
    if opts.schema_only {
        return Ok(report);
    }

    progress(Progress::Stage("sequences"));
    report.sequences = check_sequences(&t, &sc, &tc, &opts.filter).await?;

    progress(Progress::Stage("rows"));
    report.tables = compare_rows(source, target, s, t, &sc, &tc, opts, &mut progress).await?;
    Ok(report)
}

async fn check_sequences(
    t: &Client,
    sc: &Catalog,
    tc: &Catalog,
    filter: &Filter,
) -> Result<Vec<sequences::SequenceCheck>> {
    let member = |cat: &Catalog, oid: u32| {
        cat.extension_members
            .contains(&crate::model::ObjRef::new(class::PG_CLASS, oid))
    };
    // A sequence is selected as the filters select relations (with -t, by the table it feeds).
    let (rel_s, rel_t) = (filter.relations(sc), filter.relations(tc));
    let wanted = |cat: &Catalog, s: &crate::model::Sequence| {
        let rels = if std::ptr::eq(cat, sc) {
            &rel_s
        } else {
            &rel_t
        };
        !member(cat, s.oid) && rels.contains(&s.oid)
    };
    let extremes = sequences::column_extremes(t, tc, &|s| wanted(tc, s)).await?;
    let targets: HashMap<String, &crate::model::Sequence> = tc
        .sequences
        .iter()
        .map(|s| (qualified(&s.schema, &s.name), s))
        .collect();
    Ok(sc
        .sequences
        .iter()
        .filter(|s| wanted(sc, s))
        .map(|s| {
            let name = qualified(&s.schema, &s.name);
            sequences::check(s, targets.get(&name).copied(), extremes.get(&name).copied())
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn compare_rows(
    source: &ConnSpec,
    target: &ConnSpec,
    s: Client,
    t: Client,
    sc: &Catalog,
    tc: &Catalog,
    opts: &Options,
    progress: &mut (impl FnMut(Progress<'_>) + Send),
) -> Result<Vec<data::TableResult>> {
    let exact_floats = sc.major().min(tc.major()) >= 12;
    let on_target: HashMap<String, &Table> = tc
        .tables
        .iter()
        .map(|t| (qualified(&t.schema, &t.name), t))
        .collect();
    let columns = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let mut unmatched = Vec::new();
    let mut comparable = HashSet::new();
    let selected = opts.filter.relations(sc);
    for t in sc
        .tables
        .iter()
        .filter(|t| t.relkind == 'r' && selected.contains(&t.oid))
    {
        let name = qualified(&t.schema, &t.name);
        let note = match on_target.get(&name) {
            None => Some(("missing", "no such table on the target".to_string())),
            Some(tt) if tt.relkind != 'r' => {
                Some(("differ", format!("relkind {} on the target", tt.relkind)))
            }
            Some(tt) if columns(tt) != columns(t) => Some((
                "differ",
                format!(
                    "columns differ: source ({}), target ({})",
                    columns(t).join(", "),
                    columns(tt).join(", ")
                ),
            )),
            Some(_) => None,
        };
        match note {
            Some((status, note)) => unmatched.push(data::TableResult {
                table: name,
                status: status.into(),
                source_rows: 0,
                target_rows: 0,
                chunks: 0,
                keyed: false,
                differing: Vec::new(),
                note: Some(note),
            }),
            None => {
                comparable.insert(t.oid);
            }
        }
    }
    let specs = data::table_specs(sc, &|t| comparable.contains(&t.oid), exact_floats);

    let timeout = opts.statement_timeout.as_deref();
    let mut pairs = vec![(s, t)];
    for _ in 1..opts.jobs.max(1).min(specs.len().max(1)) {
        let (a, b) = futures::join!(open(source, timeout), open(target, timeout));
        pairs.push((a?, b?));
    }
    let mut results = data::compare(&pairs, &specs, opts.chunk_rows.max(1), |d, n, name| {
        progress(Progress::Chunk(d, n, name))
    })
    .await?;
    results.extend(unmatched);
    results.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(results)
}
