//! Checksum throughput of `pgmove validate` against reading the same table with `COPY … TO
//! STDOUT`: a throwaway PostgreSQL 15 with a table of a few million rows, the time of each, and
//! their ratio. Run with `cargo bench -p pgmove-benches --bench checksum`; `PGMOVE_BENCH_ROWS`
//! sets the row count (default 3,000,000).

use futures::{pin_mut, StreamExt};
use pgmove_core::validate::{self, data};
use pgmove_core::{catalog, conn};
use pgmove_testkit::Cluster;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let rows: i64 = std::env::var("PGMOVE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000_000);
    let c = Cluster::start(15)?;
    c.create_db("bench")?;
    let started = Instant::now();
    c.sql(
        "bench",
        &format!(
            "CREATE TABLE public.t (
                 id bigint PRIMARY KEY, name text, amount numeric(12,2), score double precision,
                 at timestamptz, flags integer[], doc jsonb);
             INSERT INTO public.t
             SELECT g, 'name ' || g, g / 100.0, g / 7.0, timestamptz '2020-01-01' + g * interval '1 second',
                    ARRAY[g % 10, g % 7], jsonb_build_object('g', g, 'tag', 'x' || g % 100)
               FROM generate_series(1, {rows}) g;"
        ),
    )?;
    c.sql("bench", "VACUUM ANALYZE public.t")?;
    eprintln!(
        "loaded {rows} rows in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = conn::connect_str(&c.conninfo("bench")).await?;
        let size: i64 = client
            .query_one("SELECT pg_table_size('public.t')", &[])
            .await?
            .get(0);

        // Warm the cache once, so neither measurement pays for the first read from disk.
        client.simple_query("SELECT count(*) FROM public.t").await?;

        let t0 = Instant::now();
        let stream = client
            .copy_out("COPY (SELECT * FROM public.t) TO STDOUT")
            .await?;
        pin_mut!(stream);
        let mut bytes = 0usize;
        while let Some(chunk) = stream.next().await {
            bytes += chunk?.len();
        }
        let copy = t0.elapsed().as_secs_f64();

        let cat = catalog::read(&client).await?;
        let specs = data::table_specs(&cat, &|_| true, true);
        let spec = &specs[0];
        let t0 = Instant::now();
        let whole = data::checksum(&client, &data::checksum_sql(spec, None), &spec.name).await?;
        let checksum = t0.elapsed().as_secs_f64();
        assert_eq!(whole.rows, rows);

        // What `pgmove validate --jobs 1` does for this table on one side: split points every
        // 100,000 keys, then one checksum per range.
        let t0 = Instant::now();
        let points: Vec<Vec<String>> = client
            .query(&data::split_points_sql(spec, 100_000), &[])
            .await?
            .iter()
            .map(|r| vec![r.get::<_, String>(0)])
            .collect();
        let ranges = data::chunk_ranges(spec, &points);
        let mut counted = 0;
        for r in &ranges {
            counted += data::checksum(&client, &data::checksum_sql(spec, r.as_deref()), &spec.name)
                .await?
                .rows;
        }
        let chunked = t0.elapsed().as_secs_f64();
        assert_eq!(counted, rows);

        // The whole command, source and target both this database, on 2 connection pairs.
        let spec_conn = c.conninfo("bench").parse()?;
        let mut opts = validate::Options::default();
        opts.jobs = 2;
        let t0 = Instant::now();
        let report = validate::run(&spec_conn, &spec_conn, &opts, |_| {}).await?;
        let full = t0.elapsed().as_secs_f64();
        assert_eq!(report.verdict(), validate::Verdict::Match);

        let mb = |b: f64| b / 1e6;
        println!("checksum benchmark, PostgreSQL 15, {rows} rows, table {:.0} MB", mb(size as f64));
        println!(
            "  COPY (SELECT * FROM t) TO STDOUT  {copy:7.2}s  {:7.0} rows/s  ({:.0} MB of text)",
            rows as f64 / copy,
            mb(bytes as f64)
        );
        println!(
            "  checksum, whole table             {checksum:7.2}s  {:7.0} rows/s  ratio to COPY {:.2}",
            rows as f64 / checksum,
            checksum / copy
        );
        println!(
            "  checksum, {} key ranges          {chunked:7.2}s  {:7.0} rows/s  ratio to COPY {:.2}",
            ranges.len(),
            rows as f64 / chunked,
            chunked / copy
        );
        println!(
            "  pgmove validate (both sides here, --jobs 2)  {full:7.2}s  (two checksums of every row, on 2 cores)"
        );
        anyhow::Ok(())
    })
}
