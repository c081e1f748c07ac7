//! Validation: does the target hold what the source holds? Schema, sequence states, rows and
//! large objects.
//!
//! [`run`] reads both catalogs (one snapshot each), diffs their rendered schema
//! ([`schema`]; a materialized view populated on one side only shows there as its
//! `materialized view data` item), checks every sequence against the source and its column
//! ([`sequences`]), compares the rows of tables and of materialized views populated on both
//! sides by server-side checksums in chunks on N connection pairs ([`data`]), and the large
//! objects by server-side sizes and hashes ([`large_objects`]). The result is a [`Report`]
//! that the CLI prints as a table or JSON.
//!
//! Validation must never write to either server: every connection is opened with
//! `default_transaction_read_only = on`, queries are plain `SELECT`s (ACCESS SHARE locks only),
//! and `statement_timeout` is left as the server and role set it unless the caller sets one.

pub mod data;
pub mod large_objects;
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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct Report {
    pub source_version: i32,
    pub target_version: i32,
    /// Source objects compared.
    pub schema_objects: usize,
    pub schema: Vec<schema::SchemaDiff>,
    /// Empty with `schema_only`.
    pub sequences: Vec<sequences::SequenceCheck>,
    /// Tables and populated materialized views. Empty with `schema_only`.
    pub tables: Vec<data::TableResult>,
    /// Empty with `schema_only`, and with filters (large objects belong to no schema; pg_dump
    /// too leaves them out of a filtered dump).
    pub large_objects: large_objects::LargeObjectsResult,
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
            || self.large_objects.differs()
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
        .map_err(|e| {
            Error::db(
                e,
                Some(format!(
                    "setting up a connection to {}",
                    spec.display_safe()
                )),
                Some("session setup"),
            )
        })?;
    Ok(c)
}

/// What [`run`] is doing, for progress displays.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// A stage started: `catalogs`, `sequences`, `large objects` or `rows`.
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

/// `keep` without the target's migration bookkeeping ([`crate::migrate::STATE_SCHEMA`]), which
/// a `migrate` run holds while it validates and drops once the target passed.
fn not_bookkeeping(keep: impl Fn(&Item) -> bool) -> impl Fn(&Item) -> bool {
    move |i: &Item| &*i.schema != crate::migrate::STATE_SCHEMA && keep(i)
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
    let (mut sc, mut tc) = (sc?, tc?);
    inherited_columns_in_one_order(&mut sc);
    inherited_columns_in_one_order(&mut tc);

    // Both catalogs rendered as SQL for the target, so that what two versions spell
    // differently for the same object (a source before 18 has no NOT NULL constraint
    // syntax) is spelled one way.
    // With owners, so that what the source says of an object's owner is known as such (see
    // schema::without_owner, which takes the owner lines out again).
    let render_opts = render::Options {
        target_version: Some(tc.server_version),
        owners: true,
        ..Default::default()
    };
    let (mut schema, schema_objects) = schema::diff(
        &sc,
        &tc,
        &render_opts,
        &kept_items(&opts.filter, &sc),
        &not_bookkeeping(kept_items(&opts.filter, &tc)),
    );
    schema.extend(populated_differences(
        &sc,
        &tc,
        &schema,
        &opts.filter.relations(&sc),
    ));
    schema.sort_by(|x, y| (x.kind, &x.object).cmp(&(y.kind, &y.object)));
    let mut report = Report {
        source_version: sc.server_version,
        target_version: tc.server_version,
        schema_objects,
        schema,
        sequences: Vec::new(),
        tables: Vec::new(),
        large_objects: Default::default(),
    };
    if opts.schema_only {
        return Ok(report);
    }

    progress(Progress::Stage("sequences"));
    report.sequences = check_sequences(&t, &sc, &tc, &opts.filter).await?;

    if opts.filter.is_empty() {
        progress(Progress::Stage("large objects"));
        report.large_objects = large_objects::compare(&s, &t).await?;
    }

    progress(Progress::Stage("rows"));
    report.tables = compare_rows(source, target, s, t, &sc, &tc, opts, &mut progress).await?;
    Ok(report)
}

/// Materialized views populated on one side only that `known` (the schema diff) does not name
/// already: the renderers give no refresh to a matview that reads an unpopulated one, so such
/// a matview, populated on the source, would otherwise go unreported.
fn populated_differences(
    sc: &Catalog,
    tc: &Catalog,
    known: &[schema::SchemaDiff],
    selected: &HashSet<u32>,
) -> Vec<schema::SchemaDiff> {
    let target: HashMap<String, bool> = tc
        .views
        .iter()
        .filter(|v| v.relkind == 'm')
        .map(|v| (qualified(&v.schema, &v.name), v.populated))
        .collect();
    let refresh = |name: &str| format!("REFRESH MATERIALIZED VIEW {name};\n");
    let mut out = Vec::new();
    for v in sc
        .views
        .iter()
        .filter(|v| v.relkind == 'm' && selected.contains(&v.oid))
    {
        let name = qualified(&v.schema, &v.name);
        let object = format!("materialized view data {name}");
        let Some(&populated) = target.get(&name) else {
            continue;
        };
        if populated == v.populated || known.iter().any(|d| d.object == object) {
            continue;
        }
        let (status, source, target) = if v.populated {
            (schema::Status::Missing, Some(refresh(&name)), None)
        } else {
            (schema::Status::Extra, None, Some(refresh(&name)))
        };
        out.push(schema::SchemaDiff {
            kind: render::Kind::MatviewRefresh,
            object,
            status,
            source,
            target,
        });
    }
    out
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
    let mut specs = data::table_specs(sc, &|t| comparable.contains(&t.oid), exact_floats);
    // Materialized views populated on both sides, with the same columns: one populated on one
    // side only is a schema difference, and reading an unpopulated one fails.
    let target_matviews: HashMap<String, &crate::model::View> = tc
        .views
        .iter()
        .filter(|v| v.relkind == 'm')
        .map(|v| (qualified(&v.schema, &v.name), v))
        .collect();
    let same_matview = |v: &crate::model::View| {
        let names = |v: &crate::model::View| {
            v.columns
                .iter()
                .map(|c| c.name.to_string())
                .collect::<Vec<_>>()
        };
        selected.contains(&v.oid)
            && !sc
                .extension_members
                .contains(&crate::model::ObjRef::new(class::PG_CLASS, v.oid))
            && target_matviews
                .get(&qualified(&v.schema, &v.name))
                .is_some_and(|t| t.populated && names(t) == names(v))
    };
    specs.extend(data::matview_specs(sc, &same_matview, exact_floats));

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

/// Put the inherited columns of every table with parents first, by name, and its own after
/// them, as they were. A child that joined its parent with `ALTER TABLE … INHERIT` keeps its
/// own column order, but any migration recreates it with `INHERITS`, which puts the parent's
/// columns first (pg_dump's does too): that order is not something a migration can keep, so
/// it must not count as a difference. Both sides get the same order; rows are compared by
/// column name, so this changes nothing there.
fn inherited_columns_in_one_order(cat: &mut Catalog) {
    for t in cat
        .tables
        .iter_mut()
        .filter(|t| !t.extra().inherits.is_empty())
    {
        t.columns
            .sort_by(|a, b| match (a.inh_count > 0, b.inh_count > 0) {
                (true, true) => a.name.cmp(&b.name),
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                (false, false) => a.num.cmp(&b.num),
            });
    }
}
