//! The benchmarks behind `cargo xtask bench extract|schema|post-data|data|migrate|online`. Each starts throwaway servers,
//! generates its schema, times pgmove and the PostgreSQL tools in the same run and prints the
//! ratios. Sizes and run counts are options (also read from `PGMOVE_BENCH_*` variables), so the
//! big runs happen only when asked for.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use pgmove_benches::{
    field, generate, measure, median, object_counts, proxy, sibling_binary, CpuAccount, ServerCpu,
};
use pgmove_testkit::{client_bin_dir, Cluster};
use std::process::Command;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "pgmove-bench")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Catalog extraction: pgmove (read + render schema and post-data) vs pg_dump --schema-only.
    Extract {
        /// Schema sizes, in tables (each with 3 indexes and 3 constraints).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "10000,100000",
            env = "PGMOVE_BENCH_TABLES"
        )]
        tables: Vec<usize>,
        /// Runs per tool and size at 10,000 tables or fewer (the median is reported).
        #[arg(long, default_value_t = 3, env = "PGMOVE_BENCH_RUNS")]
        runs: usize,
        /// Runs per tool for sizes above 10,000 tables.
        #[arg(long, default_value_t = 1, env = "PGMOVE_BENCH_RUNS_BIG")]
        runs_big: usize,
        /// Added latency each way, in ms, for the runs through the proxy (0: no proxy runs).
        #[arg(long, default_value_t = 1, env = "PGMOVE_BENCH_DELAY_MS")]
        delay_ms: u64,
        /// A second, longer delay each way, in ms: the difference between the two proxy runs
        /// counts the round trips each tool waits for one after the other (0: no second run).
        #[arg(long, default_value_t = 10, env = "PGMOVE_BENCH_FAR_DELAY_MS")]
        far_delay_ms: u64,
        /// Largest size that also runs through the proxy.
        #[arg(long, default_value_t = 10000, env = "PGMOVE_BENCH_DELAY_MAX_TABLES")]
        delay_max_tables: usize,
        /// PostgreSQL major of the server.
        #[arg(long, default_value_t = 15)]
        major: u32,
    },
    /// Post-data apply: pgmove post-data --jobs N vs psql -f of pg_dump's post-data vs
    /// pg_restore -j N --section=post-data. Either on many small tables (`--tables`, `--rows`)
    /// or, with `--size`, on the generated database of the data benchmarks (index builds,
    /// foreign key checks and a matview refresh on real volumes).
    PostData {
        #[arg(long, default_value_t = 10000, env = "PGMOVE_BENCH_TABLES")]
        tables: usize,
        /// Approximate size in MB of a generated database with rows (the `data` and `migrate`
        /// benchmarks' source) to use instead of `--tables` small tables; 0: not used.
        #[arg(long, default_value_t = 0, env = "PGMOVE_BENCH_SIZE_MB")]
        size: usize,
        /// Rows loaded per table before post-data.
        #[arg(long, default_value_t = 3)]
        rows: usize,
        /// More arguments for `pgmove post-data` (split at spaces), e.g.
        /// `--maintenance-work-mem server` to measure what a setting brings.
        #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
        pgmove_args: Option<String>,
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Runs per tool (the median is reported).
        #[arg(long, default_value_t = 1, env = "PGMOVE_BENCH_RUNS")]
        runs: usize,
        /// Latency added each way, in ms, between every tool and the target (a delay proxy;
        /// 0: direct), as for a target in another availability zone.
        #[arg(long, default_value_t = 0, env = "PGMOVE_BENCH_DELAY_MS")]
        delay_ms: u64,
        /// PostgreSQL major of both servers (pg_dump, pg_restore and psql are the server's own).
        #[arg(long, default_value_t = 18)]
        major: u32,
        /// Keep the servers' data on disk (the system temporary directory) rather than on the
        /// tmpfs `/dev/shm`. On ext4, creating files right after a `DROP DATABASE` deleted tens
        /// of thousands of them costs seconds of kernel time (inode allocation skips recently
        /// deleted inodes), and that cost fell on whichever tool ran next, not on the tool.
        #[arg(long)]
        on_disk: bool,
    },
    /// Schema apply over latency: `pgmove schema` vs `psql -f` of pg_dump's pre-data, into an
    /// empty database, direct and through the delay proxy (the source is read direct).
    Schema {
        #[arg(long, default_value_t = 2000, env = "PGMOVE_BENCH_TABLES")]
        tables: usize,
        /// Runs per tool and link (the median is reported).
        #[arg(long, default_value_t = 3, env = "PGMOVE_BENCH_RUNS")]
        runs: usize,
        /// Added latency each way, in ms, for the runs through the proxy (0: direct only).
        #[arg(long, default_value_t = 1, env = "PGMOVE_BENCH_DELAY_MS")]
        delay_ms: u64,
        /// The pgmove binary to time (default: the one built next to this benchmark), e.g. an
        /// older build to compare with.
        #[arg(long)]
        pgmove: Option<std::path::PathBuf>,
        /// PostgreSQL major of the server.
        #[arg(long, default_value_t = 15)]
        major: u32,
    },
    /// Row copy: pgmove data --jobs N vs pgcopydb copy table-data --table-jobs N vs
    /// pg_dump -Fd -j N --data-only + pg_restore -j N --data-only, rows checked equal.
    Data {
        #[command(flatten)]
        scale: ScaleArgs,
    },
    /// Whole migration into an empty database: pgmove migrate --jobs N --validate none vs
    /// pgcopydb clone --table-jobs N --index-jobs N --no-owner vs pg_dump -Fd -j N -O +
    /// pg_restore -j N -O; pgmove's target checked (schema, rows, large objects, sequences).
    Migrate {
        #[command(flatten)]
        scale: ScaleArgs,
    },
    /// Online migration under a steady write load: pgmove migrate --online + cutover vs
    /// pgcopydb clone --follow + sentinel end position; time to streaming, lag, rows checked.
    /// pgcopydb's --follow needs wal2json (Debian package postgresql-15-wal2json).
    Online {
        #[command(flatten)]
        scale: ScaleArgs,
        /// The writer's transactions per second (one insert and one update each).
        #[arg(long, default_value_t = 50)]
        rate: u32,
        /// Seconds of lag sampling (one sample a second) once a tool streams.
        #[arg(long, default_value_t = 30)]
        lag_seconds: u64,
    },
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    match args.bench {
        Bench::Extract {
            tables,
            runs,
            runs_big,
            delay_ms,
            far_delay_ms,
            delay_max_tables,
            major,
        } => {
            let mut lines = Vec::new();
            for n in tables {
                let runs = if n > 10_000 { runs_big } else { runs };
                let delays = [delay_ms, far_delay_ms];
                lines.extend(extract(n, runs.max(1), delays, delay_max_tables, major)?);
            }
            println!("\n== extraction: pgmove (catalog::read + render + sort + write to a sink) vs pg_dump --schema-only -f /dev/null ==");
            println!("{}", EXTRACT_HEADER);
            for l in lines {
                println!("{l}");
            }
            Ok(())
        }
        Bench::PostData {
            tables,
            size,
            rows,
            pgmove_args,
            jobs,
            runs,
            delay_ms,
            major,
            on_disk,
        } => post_data(
            Source {
                tables,
                size_mb: size,
                rows,
            },
            pgmove_args.as_deref().unwrap_or(""),
            jobs,
            runs.max(1),
            delay_ms,
            major,
            on_disk,
        ),
        Bench::Schema {
            tables,
            runs,
            delay_ms,
            pgmove,
            major,
        } => schema(tables, runs.max(1), delay_ms, pgmove, major),
        Bench::Data { scale } => pgmove_benches::data::run(&scale.scale()),
        Bench::Migrate { scale } => pgmove_benches::migrate::run(&scale.scale()),
        Bench::Online {
            scale,
            rate,
            lag_seconds,
        } => pgmove_benches::online::run(&pgmove_benches::online::Options {
            scale: scale.scale(),
            rate,
            lag_window: Duration::from_secs(lag_seconds.max(1)),
        }),
    }
}

/// Size, jobs and servers of the benchmarks on the generated database (`data`, `migrate`,
/// `online`).
#[derive(clap::Args)]
struct ScaleArgs {
    /// Approximate source size in MB (e.g. 64 for a quick check).
    #[arg(long, default_value_t = 1024, env = "PGMOVE_BENCH_SIZE_MB")]
    size: usize,
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// PostgreSQL major of both servers (15: pgcopydb 0.10 reads servers up to 15, and
    /// Debian's tools match it).
    #[arg(long, default_value_t = 15)]
    major: u32,
    /// Keep the servers' data on disk rather than on the tmpfs /dev/shm.
    #[arg(long)]
    on_disk: bool,
}

impl ScaleArgs {
    fn scale(&self) -> pgmove_benches::source::Scale {
        pgmove_benches::source::Scale {
            size_mb: self.size.max(1),
            jobs: self.jobs.max(1),
            major: self.major,
            on_disk: self.on_disk,
        }
    }
}

/// A cluster with a lock table large enough for pg_dump's one lock per table, under `parent`
/// (default: the system temporary directory).
fn bench_cluster(major: u32, tables: usize, parent: Option<&std::path::Path>) -> Result<Cluster> {
    // pg_dump locks every table: max_locks_per_transaction × (max_connections +
    // max_prepared_transactions) must exceed the table count.
    let locks = (tables / 50).max(256).to_string();
    let mut b = Cluster::builder(major)
        .setting("max_locks_per_transaction", &locks)
        .setting("shared_buffers", "256MB")
        .setting("autovacuum", "off");
    if let Some(p) = parent {
        b = b.dir_in(p);
    }
    b.start()
}

const EXTRACT_HEADER: &str = "tables   link             runs  pgmove s  pg_dump s  time ratio  pgmove RSS MiB  pg_dump RSS MiB  RSS ratio  pgmove queries";

fn extract(
    tables: usize,
    runs: usize,
    [delay_ms, far_delay_ms]: [u64; 2],
    delay_max_tables: usize,
    major: u32,
) -> Result<Vec<String>> {
    eprintln!("== {tables} tables: generating on PostgreSQL {major}");
    let cluster = bench_cluster(major, tables, None)?;
    cluster.create_db("bench")?;
    let took = generate(&cluster, "bench", tables, 0)?;
    eprintln!(
        "   {} in {:.0}s",
        object_counts(&cluster, "bench")?,
        took.as_secs_f64()
    );
    let extract_bin = sibling_binary("extract")?;
    let pg_dump = client_bin_dir()?.join("pg_dump");

    // Latency through the proxy, then more latency through it again: the proxy's own cost (its
    // threads copy every byte, on the same two cores as the server and the tools; at 10,000
    // tables that is seconds of pg_dump's and pgmove's wall time, and noise) is in both runs,
    // so their difference is what the added latency alone costs each tool, and divided by the
    // added round-trip time, about how many round trips it waits for one after the other.
    let mut links = vec![("direct".to_string(), cluster.port(), None)];
    if delay_ms > 0 && tables <= delay_max_tables {
        let far = (far_delay_ms > delay_ms).then_some(far_delay_ms);
        for delay in std::iter::once(delay_ms).chain(far) {
            let p = proxy::DelayProxy::start(cluster.port(), Duration::from_millis(delay))?;
            links.push((format!("+{}ms RTT", 2 * delay), p.port(), Some(p)));
        }
    }
    let mut out = Vec::new();
    let mut medians = Vec::new();
    for (link, port, _proxy) in &links {
        let conninfo = format!("host=127.0.0.1 port={port} user=postgres dbname=bench");
        let rtt = proxy::round_trip(&conninfo, 20)?;
        eprintln!(
            "-- {link}: SELECT 1 round trip {:.2} ms",
            rtt.as_secs_f64() * 1e3
        );
        let (mut pm, mut pd) = (Vec::new(), Vec::new());
        let mut queries = 0;
        for run in 1..=runs {
            let m = measure(Command::new(&extract_bin).arg(&conninfo))?;
            let line = m.stdout.trim();
            queries = field(line, "queries").unwrap_or("?").parse().unwrap_or(0);
            eprintln!(
                "   run {run} pgmove: {:.2}s, {} MiB ({line})",
                m.wall.as_secs_f64(),
                m.max_rss_kib / 1024
            );
            pm.push(m);
            let m = measure(
                Command::new(&pg_dump)
                    .args(["--schema-only", "-f", "/dev/null", "-d"])
                    .arg(&conninfo),
            )?;
            eprintln!(
                "   run {run} pg_dump: {:.2}s, {} MiB",
                m.wall.as_secs_f64(),
                m.max_rss_kib / 1024
            );
            pd.push(m);
        }
        let t = |v: &[pgmove_benches::Measured]| {
            median(&v.iter().map(|m| m.wall.as_secs_f64()).collect::<Vec<_>>())
        };
        let r = |v: &[pgmove_benches::Measured]| {
            median(
                &v.iter()
                    .map(|m| m.max_rss_kib as f64 / 1024.0)
                    .collect::<Vec<_>>(),
            )
        };
        let (tp, td, rp, rd) = (t(&pm), t(&pd), r(&pm), r(&pd));
        medians.push((tp, td));
        out.push(format!(
            "{tables:<8} {link:<16} {runs:>4}  {tp:>8.2}  {td:>9.2}  {:>9.3}x  {rp:>14.1}  {rd:>15.1}  {:>8.3}x  {queries:>14}",
            tp / td,
            rp / rd
        ));
        eprintln!("{EXTRACT_HEADER}\n{}", out.last().unwrap());
    }
    if let [_, (p0, d0), (p1, d1)] = medians[..] {
        let rtt = 2.0 * (far_delay_ms - delay_ms) as f64 / 1e3;
        out.push(format!(
            "{tables:<8} +{}ms more RTT adds: pgmove {:+.2} s (~{:.0} round trips), pg_dump {:+.2} s (~{:.0} round trips)",
            2 * (far_delay_ms - delay_ms),
            p1 - p0,
            (p1 - p0) / rtt,
            d1 - d0,
            (d1 - d0) / rtt,
        ));
        eprintln!("{}", out.last().unwrap());
    }
    Ok(out)
}

/// What the post-data benchmark's source holds: `tables` small tables of `rows` rows, or (when
/// `size_mb` > 0) the generated database of the data benchmarks.
struct Source {
    tables: usize,
    size_mb: usize,
    rows: usize,
}

fn post_data(
    source: Source,
    pgmove_args: &str,
    jobs: usize,
    runs: usize,
    delay_ms: u64,
    major: u32,
    on_disk: bool,
) -> Result<()> {
    let shm = std::path::Path::new("/dev/shm");
    let parent = (!on_disk && shm.is_dir()).then_some(shm);
    eprintln!(
        "== servers' data in {}",
        parent.map_or("the system temporary directory".into(), |p| p
            .display()
            .to_string())
    );
    let pgmove = sibling_binary("pgmove")?;
    let work = tempfile::tempdir()?;
    let dump = work.path().join("bench.dump");
    let script = work.path().join("post-data.sql");

    let Source {
        tables,
        size_mb,
        rows,
    } = source;
    let (src, what) = if size_mb > 0 {
        let src = pgmove_benches::source::start(major, parent, false)?;
        let size = pgmove_benches::source::generate(&src, "bench", size_mb)?;
        (src, size)
    } else {
        eprintln!(
            "== {tables} tables, {rows} rows each: generating the source on PostgreSQL {major}"
        );
        let src = bench_cluster(major, tables, parent)?;
        src.create_db("bench")?;
        let took = generate(&src, "bench", tables, rows)?;
        eprintln!(
            "   {} in {:.0}s",
            object_counts(&src, "bench")?,
            took.as_secs_f64()
        );
        (src, format!("{tables} tables, {rows} rows each"))
    };
    let run_tool = |cmd: &mut Command| -> Result<()> { measure(cmd).map(|_| ()) };
    run_tool(
        Command::new(pgmove_benches::tools::client(&src, "pg_dump")?)
            .args(["-Fc", "-O", "-f"])
            .arg(&dump)
            .arg("-d")
            .arg(src.conninfo("bench")),
    )?;
    run_tool(
        Command::new(pgmove_benches::tools::client(&src, "pg_dump")?)
            .args(["--section=post-data", "-O", "-f"])
            .arg(&script)
            .arg("-d")
            .arg(src.conninfo("bench")),
    )?;
    // pg_dump 18 writes `SET transaction_timeout`, which servers before 17 reject.
    let text = std::fs::read_to_string(&script)?;
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("SET transaction_timeout"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&script, text)?;

    // The target: one template with pre-data and rows, copied for each run of each tool.
    let dst = if size_mb > 0 {
        pgmove_benches::source::start(major, parent, false)?
    } else {
        bench_cluster(major, tables, parent)?
    };
    dst.create_db("base")?;
    for section in ["pre-data", "data"] {
        run_tool(
            Command::new(pgmove_benches::tools::client(&dst, "pg_restore")?)
                .arg(format!("--section={section}"))
                .args(["-O", "-d"])
                .arg(dst.conninfo("base"))
                .arg(&dump),
        )
        .with_context(|| format!("restoring {section} into the target template"))?;
    }
    dst.sql("base", "VACUUM ANALYZE")?;
    // The tools reach the target through the delay proxy when asked; the checks go direct.
    let proxy = (delay_ms > 0)
        .then(|| proxy::DelayProxy::start(dst.port(), Duration::from_millis(delay_ms)))
        .transpose()?;
    let target = |db: &str| match &proxy {
        Some(p) => format!("host=127.0.0.1 port={} user=postgres dbname={db}", p.port()),
        None => dst.conninfo(db),
    };
    let link = match &proxy {
        Some(_) => {
            let rtt = proxy::round_trip(&target("base"), 20)?;
            eprintln!(
                "-- through the delay proxy: SELECT 1 round trip {:.2} ms",
                rtt.as_secs_f64() * 1e3
            );
            format!(", target +{}ms RTT", 2 * delay_ms)
        }
        None => String::new(),
    };

    let mut times: [Vec<f64>; 3] = Default::default();
    let names = [
        format!("pgmove post-data --jobs {jobs} {pgmove_args}")
            .trim_end()
            .to_string(),
        "psql -f (pg_dump --section=post-data)".to_string(),
        format!("pg_restore -j {jobs} --section=post-data"),
    ];
    let mut counts = Vec::new();
    let (src_cpu, dst_cpu) = (ServerCpu::of(&src)?, ServerCpu::of(&dst)?);
    let mut accounts: [Vec<CpuAccount>; 3] = Default::default();
    // Each tool's resulting schema (pg_dump --schema-only -O) and materialized views' state,
    // checked equal at the end: the same objects, built the same way, matviews populated.
    let mut results: Vec<(String, String)> = Vec::new();
    let matviews = "SELECT string_agg(format('%s %s %s', c.relname, c.relispopulated,
                                (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]), ', ' ORDER BY c.relname)
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind = 'm' AND n.nspname = 's'";
    for run in 1..=runs {
        // Each run starts with a different tool, so none always runs on a freshly dropped
        // database's heels.
        for i in (0..names.len()).map(|k| (k + run - 1) % names.len()) {
            let name = &names[i];
            let db = format!("t{i}_{run}");
            // FILE_COPY (15+): copy the template's files rather than WAL-log every block.
            let strategy = if major >= 15 {
                " STRATEGY FILE_COPY"
            } else {
                ""
            };
            dst.sql(
                "postgres",
                &format!("CREATE DATABASE {db} TEMPLATE base{strategy}"),
            )?;
            dst.sql("postgres", "CHECKPOINT")?;
            let mut cmd = match i {
                0 => {
                    let mut c = Command::new(&pgmove);
                    c.args(["post-data", "-q", "--jobs", &jobs.to_string()])
                        .args(pgmove_args.split_whitespace())
                        .arg("--source")
                        .arg(src.conninfo("bench"))
                        .arg("--target")
                        .arg(target(&db));
                    c
                }
                1 => {
                    let mut c = Command::new(pgmove_benches::tools::client(&dst, "psql")?);
                    c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
                        .arg(&script)
                        .arg("-d")
                        .arg(target(&db));
                    c
                }
                _ => {
                    let mut c = Command::new(pgmove_benches::tools::client(&dst, "pg_restore")?);
                    c.args(["-O", "-e", "--section=post-data", "-j", &jobs.to_string()])
                        .arg("-d")
                        .arg(target(&db))
                        .arg(&dump);
                    c
                }
            };
            let account = CpuAccount::around(&src_cpu, &dst_cpu, || {
                let m = measure(&mut cmd).with_context(|| name.clone())?;
                Ok((m.wall, m.cpu))
            })?;
            eprintln!(
                "   run {run} {name}: {:.2}s; {}",
                account.wall.as_secs_f64(),
                account.line()
            );
            times[i].push(account.wall.as_secs_f64());
            accounts[i].push(account);
            counts.push((name.clone(), object_counts(&dst, &db)?));
            if run == 1 {
                let state = format!(
                    "{}\nmaterialized views: {}",
                    pgmove_benches::checks::schema(&dst, &db)?,
                    dst.psql(&db, &["-At", "-c", matviews])?.trim()
                );
                results.push((name.clone(), state));
            }
            dst.sql("postgres", &format!("DROP DATABASE {db}"))?;
        }
    }
    let expected = object_counts(&src, "bench")?;
    for (name, c) in &counts {
        if *c != expected {
            bail!("{name} left {c} on the target; the source has {expected}");
        }
    }
    if let Some((first, want)) = results.first() {
        for (name, got) in &results[1..] {
            pgmove_benches::checks::same_text(
                name,
                &format!("schema and matviews (vs {first})"),
                want,
                got,
            )?;
        }
    }
    let med: Vec<f64> = times.iter().map(|t| median(t)).collect();
    let best_tool = med[1].min(med[2]);
    let goal = if size_mb > 0 {
        "goal ≤ 0.6x pg_restore"
    } else {
        "goal ≤ 0.5x the faster"
    };
    println!(
        "\n== post-data of {what} ({expected}), PostgreSQL {major}, {jobs} jobs{link}, {runs} run(s), medians =="
    );
    for ((name, t), a) in names.iter().zip(&med).zip(&accounts) {
        // The account of the run whose time is the median.
        let a = a
            .iter()
            .find(|a| a.wall.as_secs_f64() == *t)
            .copied()
            .unwrap_or_default();
        println!("{name:<45} {t:>8.2} s   {}", a.line());
    }
    println!(
        "pgmove / psql {:.3}x   pgmove / pg_restore {:.3}x   pgmove / faster of the two {:.3}x ({goal})",
        med[0] / med[1],
        med[0] / med[2],
        med[0] / best_tool
    );
    println!("checked: the same objects, pg_dump --schema-only -O of each target identical, materialized views populated alike");
    Ok(())
}

fn schema(
    tables: usize,
    runs: usize,
    delay_ms: u64,
    pgmove: Option<std::path::PathBuf>,
    major: u32,
) -> Result<()> {
    let pgmove = match pgmove {
        Some(p) => p,
        None => sibling_binary("pgmove")?,
    };
    let tools = client_bin_dir()?;
    let work = tempfile::tempdir()?;
    let script = work.path().join("pre-data.sql");
    eprintln!("== {tables} tables: generating on PostgreSQL {major}");
    let cluster = bench_cluster(major, tables, None)?;
    cluster.create_db("bench")?;
    let took = generate(&cluster, "bench", tables, 0)?;
    let expected = object_counts(&cluster, "bench")?;
    eprintln!("   {expected} in {:.0}s", took.as_secs_f64());
    measure(
        Command::new(tools.join("pg_dump"))
            .args(["--section=pre-data", "-O", "-f"])
            .arg(&script)
            .arg("-d")
            .arg(cluster.conninfo("bench")),
    )?;
    // pg_dump 18 writes `SET transaction_timeout`, which servers before 17 reject.
    let text = std::fs::read_to_string(&script)?;
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("SET transaction_timeout"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&script, text)?;

    let mut links = vec![("direct".to_string(), cluster.port(), None)];
    if delay_ms > 0 {
        let p = proxy::DelayProxy::start(cluster.port(), Duration::from_millis(delay_ms))?;
        links.push((format!("+{}ms RTT", 2 * delay_ms), p.port(), Some(p)));
    }
    let names = ["pgmove schema", "psql -f (pg_dump --section=pre-data)"];
    // Pre-data only: what pg_dump's pre-data creates (no indexes or keys).
    let want = {
        cluster.create_db("reference")?;
        measure(
            Command::new(tools.join("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
                .arg(&script)
                .arg("-d")
                .arg(cluster.conninfo("reference")),
        )?;
        object_counts(&cluster, "reference")?
    };
    let mut lines = Vec::new();
    for (link, port, _proxy) in &links {
        let conninfo = |db: &str| format!("host=127.0.0.1 port={port} user=postgres dbname={db}");
        let rtt = proxy::round_trip(&conninfo("bench"), 20)?;
        eprintln!(
            "-- {link}: SELECT 1 round trip {:.2} ms",
            rtt.as_secs_f64() * 1e3
        );
        let mut times: [Vec<f64>; 2] = Default::default();
        let mut applies = Vec::new();
        for run in 1..=runs {
            for (i, name) in names.iter().enumerate() {
                let db = format!("t{i}_{run}");
                cluster.create_db(&db)?;
                let mut cmd = if i == 0 {
                    let mut c = Command::new(&pgmove);
                    c.args(["schema", "--source"])
                        .arg(cluster.conninfo("bench"))
                        .arg("--target")
                        .arg(conninfo(&db));
                    c
                } else {
                    let mut c = Command::new(tools.join("psql"));
                    c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
                        .arg(&script)
                        .arg("-d")
                        .arg(conninfo(&db));
                    c
                };
                let m = measure(&mut cmd).with_context(|| name.to_string())?;
                // pgmove's own summary: "… N objects in one transaction, S.Ss" (the apply).
                let applying = m
                    .stderr
                    .lines()
                    .find_map(|l| l.split("in one transaction, ").nth(1))
                    .and_then(|t| t.trim().trim_end_matches('s').parse::<f64>().ok());
                if i == 0 {
                    let Some(a) = applying else {
                        bail!("no summary line from pgmove schema:\n{}", m.stderr);
                    };
                    applies.push(a);
                }
                eprintln!(
                    "   run {run} {name}: {:.2}s{}",
                    m.wall.as_secs_f64(),
                    applying.map_or(String::new(), |a| format!(" (applying {a:.1}s)"))
                );
                times[i].push(m.wall.as_secs_f64());
                let got = object_counts(&cluster, &db)?;
                if got != want {
                    bail!("{name} left {got} on the target; pg_dump's pre-data gives {want}");
                }
                cluster.sql("postgres", &format!("DROP DATABASE {db}"))?;
            }
        }
        for (name, t) in names.iter().zip(&times) {
            lines.push(format!("{link:<12} {name:<40} {:>8.2} s", median(t)));
        }
        lines.push(format!(
            "{link:<12} {:<40} {:>8.2} s",
            "  of which pgmove applying",
            median(&applies)
        ));
    }
    println!("\n== schema apply of {tables} tables, PostgreSQL {major}, {runs} run(s), medians ==");
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
