//! The `pgmove` command. It parses arguments and calls pgmove-core; it holds no migration logic.

mod cdc;
mod data;
#[cfg(feature = "dms")]
mod dms;
#[cfg(feature = "dms")]
mod dms_flow;
mod filter_args;
mod migrate;
mod progress;
mod roles;
mod validate;

use clap::{Args, Parser, Subcommand};
use pgmove_core::conn::{self, ConnSpec};
use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, render};
use std::process::ExitCode;

const CONNECTIONS: &str = "CONNECTIONS:
  --source and --target take what psql takes: a URI
      postgres://user:password@host:5432/dbname?sslmode=verify-full&sslrootcert=rds-ca.pem
  or key=value pairs
      \"host=db.example.com port=5432 user=app dbname=app sslmode=require\"
  What the string leaves out comes from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
  PGSSLMODE, PGSSLROOTCERT, PGAPPNAME and ~/.pgpass (or PGPASSFILE), as with libpq.
  Passwords are never printed.

EXIT STATUS:
  0 done, 1 failed (nothing of a failed `schema` or `sequences` run is left on the target;
  `post-data` keeps what it finished and resumes when run again), 2 bad arguments.";

/// Move a PostgreSQL database's schema and sequences to another server, without pg_dump.
///
/// The runbook pgmove replaces, step by step:
///   pgmove schema    --source S --target T   # pg_dump --section=pre-data -O | psql
///   pgmove data      --source S --target T   # the rows, COPY to COPY (or AWS DMS, …)
///   pgmove sequences --source S --target T   # sequences, so keys continue where they left off
///   pgmove post-data --source S --target T   # pg_dump --section=post-data -O | psql, in parallel
///
/// Online, while the application writes (sources 10+, logical replication):
///   pgmove schema, pgmove replicate, pgmove post-data, then pgmove cutover
///
/// Each step reads the source's catalog once and writes SQL to the target (in one transaction
/// for `schema` and `sequences`), or to a file or stdout for psql with -o.
#[derive(Parser, Debug)]
#[command(name = "pgmove", version, after_help = CONNECTIONS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the schema (pre-data): schemas, extensions, types, functions, sequences, tables,
    /// views… without owners, in one transaction.
    #[command(after_help = "EXAMPLES:
  pgmove schema --source postgres://app@old/app --target postgres://app@new/app
  pgmove schema --source \"host=old dbname=app\" -o pre-data.sql && psql -d app -f pre-data.sql

The target must not already hold what would be created (an empty database is right); roles that
privileges name must exist there (or pass --no-privileges).")]
    Schema(SchemaArgs),
    /// Set every sequence to the source's state (run at cutover, after the rows are copied).
    #[command(after_help = "EXAMPLES:
  pgmove sequences --source postgres://app@old/app --target postgres://app@new/app
  pgmove sequences --source postgres://app@old/app --target postgres://app@new/app --margin 1000

Safe to run again: setval sets a value, it does not add to it.")]
    Sequences(SequencesArgs),
    /// Create indexes, keys, foreign keys, triggers, rules, policies… on N connections.
    #[command(
        name = "post-data",
        after_help = "EXAMPLES:
  pgmove post-data --source postgres://app@old/app --target postgres://app@new/app --jobs 4
  pgmove post-data --source postgres://app@old/app -o post-data.sql

Interrupted? Run the same command again: what exists is skipped, invalid indexes are rebuilt."
    )]
    PostData(PostDataArgs),
    /// Copy large objects: contents, GRANTs and comments, under their OIDs, on N connections.
    #[command(
        name = "large-objects",
        after_help = "EXAMPLES:
  pgmove large-objects --source postgres://app@old/app --target postgres://app@new/app --jobs 4

Interrupted? Run the same command again: each object lands whole in one transaction, and the
objects already on the target are skipped. A target holding large objects the source lacks is
refused before anything is written."
    )]
    LargeObjects(LargeObjectsArgs),
    /// Copy the rows of every table (after `schema`, before `post-data`), in one snapshot,
    /// streamed COPY to COPY on N connections, resumably.
    #[command(after_help = data::AFTER_HELP)]
    Data(data::DataArgs),
    /// Compare a target with its source: schema, sequence states and rows (read-only).
    #[command(after_help = validate::AFTER_HELP)]
    Validate(validate::ValidateArgs),
    /// The whole runbook in one resumable command: schema, rows, sequences, post-data, validate.
    #[command(after_help = migrate::AFTER_HELP)]
    Migrate(migrate::MigrateArgs),
    /// Create the source's roles on the target (no passwords), with memberships and settings.
    #[command(after_help = roles::AFTER_HELP)]
    Roles(roles::RolesArgs),
    /// Start an online migration: the target subscribes to the source (logical replication).
    #[command(after_help = cdc::REPLICATE_HELP)]
    Replicate(cdc::ReplicateArgs),
    /// Where an online migration stands: tables, lag, what cutover would do.
    Status(cdc::StatusArgs),
    /// End an online migration: catch up, set sequences, drop the replication objects.
    #[command(after_help = cdc::CUTOVER_HELP)]
    Cutover(cdc::CutoverArgs),
    #[cfg(feature = "dms")]
    Dms(dms::DmsArgs),
}

#[derive(Args, Debug)]
struct Common {
    /// The database to read (URI or key=value; see CONNECTIONS below).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    source: String,
    /// The database to write to. Without it, SQL goes to -o FILE or stdout.
    #[arg(long, value_name = "CONN", env = "PGMOVE_TARGET")]
    target: Option<String>,
    /// Write SQL to this file instead of applying it (`-` is stdout).
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "target")]
    output: Option<String>,
    /// Print no progress.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    filter: filter_args::FilterArgs,
}

#[derive(Args, Debug)]
struct SchemaArgs {
    #[command(flatten)]
    common: Common,
    /// Keep owners (ALTER … OWNER TO); by default they are left out, like pg_dump -O.
    #[arg(long)]
    owners: bool,
    /// Leave out GRANT/REVOKE and default privileges, like pg_dump -x.
    #[arg(short = 'x', long)]
    no_privileges: bool,
}

#[derive(Args, Debug)]
struct SequencesArgs {
    #[command(flatten)]
    common: Common,
    /// Move each sequence N more steps in its direction (writes may still land on the source).
    #[arg(long, default_value_t = 0, value_name = "N")]
    margin: i64,
}

#[derive(Args, Debug)]
struct PostDataArgs {
    #[command(flatten)]
    common: Common,
    /// Connections to build with.
    #[arg(short, long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Add foreign keys NOT VALID, then validate them (lighter locks during the scan).
    #[arg(long)]
    fk_not_valid: bool,
    #[command(flatten)]
    memory: MemoryArg,
}

/// `--maintenance-work-mem`, shared by post-data and migrate.
#[derive(Args, Debug, Clone)]
pub struct MemoryArg {
    /// Memory per connection for index builds (maintenance_work_mem; half of it as work_mem
    /// for foreign key checks), set only in pgmove's sessions: `auto` sizes it from the
    /// target's effective_cache_size and --jobs (never below the server's setting), `server`
    /// leaves the server's, or a size such as 512MB.
    #[arg(long, value_name = "SIZE", default_value = "auto")]
    pub maintenance_work_mem: pgmove_core::work_memory::SessionMemory,
}

#[derive(Args, Debug)]
struct LargeObjectsArgs {
    /// The database to read (URI or key=value; see CONNECTIONS below).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    source: String,
    /// The database to write to.
    #[arg(long, value_name = "CONN", env = "PGMOVE_TARGET")]
    target: String,
    /// Connection pairs to copy with.
    #[arg(short, long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Leave out GRANTs, like pg_dump -x.
    #[arg(short = 'x', long)]
    no_privileges: bool,
    /// Print no summary.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PGMOVE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .without_time()
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pgmove: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // validate has its own exit status: 0 equal, 1 different, 2 could not validate.
    if let Command::Validate(a) = cli.command {
        return ExitCode::from(runtime.block_on(validate::run(a)) as u8);
    }
    // migrate too: 0 migrated and validated, 1 failed or different, 2 could not validate.
    if let Command::Migrate(a) = cli.command {
        return ExitCode::from(runtime.block_on(migrate::run(a)));
    }
    // data prints its preflight's problems one line each.
    if let Command::Data(a) = cli.command {
        return match runtime.block_on(data::run(a)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                data::print_error(&e);
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// An error on stderr: several problems each on its own line, as scripts grep them, the
/// indented items of a list under their heading.
pub(crate) fn print_error(e: &pgmove_core::Error) {
    for line in e.to_string().lines() {
        if line.starts_with(' ') {
            eprintln!("{line}");
        } else {
            eprintln!("pgmove: error: {line}");
        }
    }
}

/// A write error of output that went to `path`, named by it (stdout when `-` or none).
pub(crate) fn named_file(e: pgmove_core::Error, path: Option<&str>) -> pgmove_core::Error {
    match (e, path) {
        (pgmove_core::Error::Io(e), Some(p)) if p != "-" => pgmove_core::Error::file(p, e),
        (e, _) => e,
    }
}

async fn run(cli: Cli) -> pgmove_core::Result<()> {
    match cli.command {
        Command::Schema(a) => {
            let mut opts = render::Options::default();
            opts.owners = a.owners;
            opts.privileges = !a.no_privileges;
            step(
                &a.common,
                Step::Schema,
                &opts,
                |_, _| {},
                &Default::default(),
            )
            .await
        }
        Command::Sequences(a) => {
            step(
                &a.common,
                Step::Sequences { margin: a.margin },
                &Default::default(),
                |_, _| {},
                &Default::default(),
            )
            .await
        }
        Command::PostData(a) => {
            let fk = a.fk_not_valid;
            let mut post = pgmove_core::postdata::Options::default();
            post.jobs = a.jobs.max(1);
            post.parallel.memory = a.memory.maintenance_work_mem;
            step(
                &a.common,
                Step::PostData,
                &Default::default(),
                move |p, cat| {
                    if fk {
                        plan::fk_not_valid(p, cat)
                    }
                },
                &post,
            )
            .await
        }
        Command::Validate(_) | Command::Migrate(_) | Command::Data(_) => {
            unreachable!("validate, migrate and data run from main")
        }
        Command::Roles(a) => roles::run(a).await,
        Command::LargeObjects(a) => {
            let (source, target): (ConnSpec, ConnSpec) = (a.source.parse()?, a.target.parse()?);
            let mut opts = pgmove_core::lobs::Options::with_jobs(a.jobs.max(1));
            opts.privileges = !a.no_privileges;
            let r = pgmove_core::lobs::copy(&source, &target, None, &opts, &|_| {}).await?;
            if !a.quiet {
                eprintln!(
                    "pgmove: large objects on {}: {} copied ({} bytes), {} already there, {:.1}s",
                    target.display_safe(),
                    r.objects,
                    r.bytes,
                    r.skipped,
                    r.seconds
                );
            }
            Ok(())
        }
        Command::Replicate(a) => cdc::replicate(a).await,
        Command::Status(a) => cdc::status(a).await,
        Command::Cutover(a) => cdc::cutover(a).await,
        #[cfg(feature = "dms")]
        Command::Dms(a) => dms::run(a).await,
    }
}

/// The step is the process's last work: the model and the plan (many small allocations) are
/// left for the exit to reclaim, as compilers do with their ASTs. Never call it before more
/// work in the same process.
fn exit_without_freeing(cat: pgmove_core::model::Catalog, p: plan::Plan) {
    std::mem::forget(cat);
    std::mem::forget(p);
}

async fn step(
    c: &Common,
    step: Step,
    opts: &render::Options,
    adjust: impl FnOnce(&mut plan::Plan, &pgmove_core::model::Catalog),
    post: &pgmove_core::postdata::Options,
) -> pgmove_core::Result<()> {
    let filter = c.filter.filter()?;
    let source_spec: ConnSpec = c.source.parse()?;
    let target_spec: Option<ConnSpec> = c.target.as_deref().map(str::parse).transpose()?;
    // Two connections read the catalog in one shared snapshot, in about half the time.
    let (a, b) = tokio::try_join!(conn::connect(&source_spec), conn::connect(&source_spec))?;
    let sources = [a, b];
    // Sequence state only where it is used: reading it locks every sequence.
    let mut read = catalog::ReadOptions::default();
    read.sequence_state = matches!(step, Step::Sequences { .. });
    let cat = catalog::read_parallel(&sources, read).await?;
    drop(sources);
    let mut p = plan::plan_with(&cat, step, opts, &filter);
    adjust(&mut p, &cat);
    for w in &p.warnings {
        tracing::warn!("{w}");
    }
    let title = match step {
        Step::Schema => "schema (pre-data)",
        Step::Sequences { .. } => "sequences",
        Step::PostData => "post-data",
    };
    let Some(target_spec) = target_spec else {
        let mut out: Box<dyn std::io::Write> = match c.output.as_deref() {
            // Buffered: a locked stdout flushes at every newline, a system call per line.
            None | Some("-") => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|e| pgmove_core::Error::file(path, e))?,
            )),
        };
        apply::write_script(
            &mut out,
            &format!("{title} of {}", source_spec.display_safe()),
            &p.items,
        )
        .map_err(|e| named_file(e, c.output.as_deref()))?;
        if !c.quiet && c.output.as_deref().is_some_and(|o| o != "-") {
            eprintln!(
                "pgmove: wrote {} statements' worth of {title} to {}",
                p.items.len(),
                c.output.as_deref().unwrap_or("")
            );
        }
        exit_without_freeing(cat, p);
        return Ok(());
    };

    let target = conn::connect(&target_spec).await?;
    plan::check_target(&target, &cat, &p).await?;
    let bar = progress::Bar::new(p.items.len(), title, c.quiet);
    let started = std::time::Instant::now();
    match step {
        Step::PostData => {
            // The check's connection is not one of post-data's own.
            drop(target);
            let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
            let report = pgmove_core::postdata::apply_post_data(
                &target_spec,
                &p.items,
                &sizes,
                post,
                |d, t, n| bar.tick(d, t, n),
                |builds| bar.detail(&pgmove_core::build_progress::summary(builds)),
            )
            .await;
            bar.finish();
            let report = report?;
            if !c.quiet {
                let memory = match report.memory.maintenance_work_mem_kb {
                    Some(kb) => format!(" (maintenance_work_mem {} MB each)", kb >> 10),
                    None => String::new(),
                };
                eprintln!(
                    "pgmove: post-data on {}: {} applied, {} already there, {} connections{memory}, {:.1}s",
                    target_spec.display_safe(),
                    report.applied,
                    report.skipped,
                    post.jobs,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        _ => {
            let r =
                apply::apply_in_transaction(&target, &p.items, |d, t, n| bar.tick(d, t, n)).await;
            bar.finish();
            r?;
            if !c.quiet {
                if let Step::Sequences { .. } = step {
                    for it in &p.items {
                        eprintln!("  set {}", it.name.trim_start_matches("sequence "));
                    }
                }
                eprintln!(
                    "pgmove: {title} on {}: {} objects in one transaction, {:.1}s",
                    target_spec.display_safe(),
                    p.items.len(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    exit_without_freeing(cat, p);
    Ok(())
}
