//! `pgmove validate`: its arguments, its progress display and its report, as a table on a
//! terminal or JSON. The comparison itself is `pgmove_core::validate`; this file only parses,
//! prints and picks the exit status (0 equal, 1 different, 2 could not validate).

use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgmove_core::conn::ConnSpec;
use pgmove_core::validate::{self, schema::Status, Progress, Report, Verdict};
use std::io::{IsTerminal, Write};

pub const AFTER_HELP: &str = "EXAMPLES:
  pgmove validate --source postgres://app@old/app --target postgres://app@new/app
  pgmove validate --source \"$SRC\" --target \"$DST\" --jobs 8 --format json > report.json
  pgmove validate --source \"$SRC\" --target \"$DST\" --schema-only -n app

Compares the schema (every object pgmove migrates, rendered on both sides), each sequence
(at or past the source's state and past the largest value of its column), and the rows of every
table (counts and checksums computed by the servers, by primary key ranges, tables in parallel).
Read-only on both servers: plain SELECTs, no lock beyond ACCESS SHARE. statement_timeout is the
server's unless --statement-timeout sets one.

EXIT STATUS:
  0 everything matches, 1 something differs, 2 validation could not run.";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The database migrated from (URI or key=value; see CONNECTIONS below).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    source: String,
    /// The database migrated to.
    #[arg(long, value_name = "CONN", env = "PGMOVE_TARGET")]
    target: String,
    /// Connection pairs comparing rows at once.
    #[arg(short, long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Report as a table for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Compare the schema only (no sequences, no rows).
    #[arg(long)]
    schema_only: bool,
    #[command(flatten)]
    filter: crate::filter_args::FilterArgs,
    /// Rows per primary-key range compared at once.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    chunk_rows: i64,
    /// statement_timeout for every query, e.g. `5min` (default: the server's setting).
    #[arg(long, value_name = "DURATION")]
    statement_timeout: Option<String>,
    /// Print no progress.
    #[arg(short, long)]
    quiet: bool,
}

/// Run the validation and print its report; returns the exit status.
pub async fn run(a: ValidateArgs) -> i32 {
    match validate(&a).await {
        Ok(report) => {
            let out = match a.format {
                Format::Json => json(&report),
                Format::Text => text(&report),
            };
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{out}");
            let _ = stdout.flush();
            match report.verdict() {
                Verdict::Match => 0,
                Verdict::Differ => 1,
                Verdict::Incomplete => 2,
            }
        }
        Err(e) => {
            eprintln!("pgmove: error: validation could not run: {e}");
            2
        }
    }
}

/// The report as JSON, with the verdict (`match`, `differ`, `incomplete`) first.
fn json(r: &Report) -> String {
    let mut v = serde_json::json!({ "verdict": r.verdict() });
    if let (Some(obj), Ok(serde_json::Value::Object(rest))) =
        (v.as_object_mut(), serde_json::to_value(r))
    {
        obj.extend(rest);
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

async fn validate(a: &ValidateArgs) -> pgmove_core::Result<Report> {
    let source: ConnSpec = a.source.parse()?;
    let target: ConnSpec = a.target.parse()?;
    let mut opts = validate::Options::default();
    opts.jobs = a.jobs.max(1);
    opts.schema_only = a.schema_only;
    opts.chunk_rows = a.chunk_rows;
    opts.statement_timeout = a.statement_timeout.clone();
    opts.filter = a.filter.filter()?;
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "validate {prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    });
    let r = validate::run(&source, &target, &opts, |p| {
        if let Some(pb) = &bar {
            match p {
                Progress::Stage(s) => pb.set_prefix(s.to_string()),
                Progress::Chunk(done, total, table) => {
                    pb.set_length(total as u64);
                    pb.set_position(done as u64);
                    pb.set_message(table.to_string());
                }
                // A kind of progress this CLI does not show yet.
                _ => {}
            }
        }
    })
    .await;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    r
}

/// At most `n` lines of `s`, with a marker when some were left out.
fn head(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        out += &format!("\n… ({} more lines)", lines.len() - n);
    }
    out
}

/// The lines of `a` that `b` lacks (each line counted as often as it occurs).
fn lines_only_in(a: &str, b: &str) -> String {
    let mut other: Vec<&str> = b.lines().collect();
    let mut out = Vec::new();
    for l in a.lines() {
        match other.iter().position(|o| *o == l) {
            Some(i) => {
                other.swap_remove(i);
            }
            None => out.push(l),
        }
    }
    out.join("\n")
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

pub(crate) fn text(r: &Report) -> String {
    let mut out = format!(
        "Schema: {} objects compared, {} differ\n",
        r.schema_objects,
        r.schema.len()
    );
    if !r.schema.is_empty() {
        let mut t = new_table(&["object", "status", "source", "target"]);
        for d in &r.schema {
            let (s, tg) = match (d.status, &d.source, &d.target) {
                (Status::Different, Some(s), Some(t)) => (
                    head(&lines_only_in(s, t), 12),
                    head(&lines_only_in(t, s), 12),
                ),
                (_, s, t) => (
                    s.as_deref().map(|s| head(s, 6)).unwrap_or_default(),
                    t.as_deref().map(|t| head(t, 6)).unwrap_or_default(),
                ),
            };
            let status = match d.status {
                Status::Missing => "missing on target",
                Status::Extra => "extra on target",
                Status::Different => "different",
            };
            t.add_row(vec![d.object.clone(), status.into(), s, tg]);
        }
        out += &format!("{t}\n");
    }
    if !r.sequences.is_empty() || !r.tables.is_empty() {
        let bad: Vec<_> = r.sequences.iter().filter(|s| s.problem.is_some()).collect();
        out += &format!(
            "Sequences: {} checked, {} with a problem\n",
            r.sequences.len(),
            bad.len()
        );
        if !bad.is_empty() {
            let state = |s: Option<(i64, bool)>| match s {
                Some((v, true)) => v.to_string(),
                Some((v, false)) => format!("{v} (not called)"),
                None => "-".into(),
            };
            let mut t = new_table(&["sequence", "source", "target", "column max", "problem"]);
            for s in bad {
                t.add_row(vec![
                    s.sequence.clone(),
                    state(s.source),
                    state(s.target),
                    s.column_extreme.map(|v| v.to_string()).unwrap_or_default(),
                    s.problem.clone().unwrap_or_default(),
                ]);
            }
            out += &format!("{t}\n");
        }
        for s in r.sequences.iter().filter(|s| s.problem.is_none()) {
            if let Some(n) = &s.note {
                out += &format!("  note: sequence {}: {n}\n", s.sequence);
            }
        }
        let bad: Vec<_> = r.tables.iter().filter(|t| t.differs()).collect();
        out += &format!(
            "Rows: {} tables compared, {} differ\n",
            r.tables.len(),
            bad.len()
        );
        if !bad.is_empty() {
            let mut t = new_table(&[
                "table",
                "status",
                "source rows",
                "target rows",
                "chunks",
                "differing ranges",
            ]);
            for tb in bad {
                let mut ranges: Vec<String> = tb
                    .differing
                    .iter()
                    .take(5)
                    .map(|d| format!("{} ({} vs {} rows)", d.range, d.source_rows, d.target_rows))
                    .collect();
                if tb.differing.len() > 5 {
                    ranges.push(format!("… {} more", tb.differing.len() - 5));
                }
                if let Some(n) = &tb.note {
                    ranges.push(n.clone());
                }
                t.add_row(vec![
                    tb.table.clone(),
                    tb.status.clone(),
                    tb.source_rows.to_string(),
                    tb.target_rows.to_string(),
                    format!("{}/{}", tb.differing.len(), tb.chunks),
                    ranges.join("\n"),
                ]);
            }
            out += &format!("{t}\n");
        }
    }
    let lo = &r.large_objects;
    if lo.source_objects + lo.target_objects > 0 {
        out += &format!(
            "Large objects: {} on the source, {} on the target, {} differ\n",
            lo.source_objects, lo.target_objects, lo.differing_objects
        );
        for d in &lo.differing {
            out += &format!("  large object {}: {}\n", d.oid, d.problem);
        }
    }
    out += match r.verdict() {
        Verdict::Match => "Result: the target matches the source.",
        Verdict::Differ => "Result: DIFFERENCES FOUND.",
        Verdict::Incomplete => "Result: INCOMPLETE: some tables could not be compared.",
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_lines_are_shown() {
        let a = "CREATE TABLE t (\n    a integer DEFAULT 1\n);\n";
        let b = "CREATE TABLE t (\n    a integer DEFAULT 2\n);\n";
        assert_eq!(lines_only_in(a, b), "    a integer DEFAULT 1");
        assert_eq!(lines_only_in(b, a), "    a integer DEFAULT 2");
    }

    #[test]
    fn long_sql_is_cut() {
        assert_eq!(head("a\nb\nc", 2), "a\nb\n… (1 more lines)");
    }
}
