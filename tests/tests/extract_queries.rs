//! The catalog is read in a fixed number of queries, whatever the number of objects, as
//! counted by `catalog::read_with_stats` for that read alone.

use pgmove_core::{catalog, conn};
use pgmove_testkit::Cluster;

async fn queries_of_one_read(client: &tokio_postgres::Client) -> (usize, usize) {
    let (cat, stats) = catalog::read_with_stats(std::slice::from_ref(client), Default::default())
        .await
        .unwrap();
    assert_eq!(stats.attempts, 1, "no DDL ran during the read");
    (stats.queries, cat.tables.len())
}

#[tokio::test]
async fn a_read_sends_a_fixed_number_of_queries() {
    let c = Cluster::start(15).unwrap();
    c.create_db("app").unwrap();
    let tables = |from: usize, to: usize| {
        format!(
            "DO $$ BEGIN FOR i IN {from}..{to} LOOP
               EXECUTE format('CREATE TABLE public.t%s (id serial PRIMARY KEY, v text UNIQUE,
                               w int CHECK (w > 0), up int REFERENCES public.t1)', i);
               EXECUTE format('CREATE INDEX ON public.t%s (w) WHERE w > 10', i);
               EXECUTE format('CREATE VIEW public.v%s AS SELECT id, v FROM public.t%s', i, i);
             END LOOP; END $$;"
        )
    };
    c.sql("app", "CREATE TABLE public.t1 (id int PRIMARY KEY)")
        .unwrap();
    c.sql("app", &tables(2, 3)).unwrap();
    let client = conn::connect_str(&c.conninfo("app")).await.unwrap();
    let (small, n_small) = queries_of_one_read(&client).await;
    c.sql("app", &tables(4, 300)).unwrap();
    let (large, n_large) = queries_of_one_read(&client).await;
    assert_eq!((n_small, n_large), (3, 300));
    assert_eq!(small, large, "queries for 3 tables vs 300");
    assert!(small < 60, "{small} queries");

    // Checks and partial-index predicates of the simple shapes are printed from their stored
    // trees, with no follow-up query; those pgmove cannot print cost one follow-up query per
    // kind, whatever their number.
    c.create_db("shapes").unwrap();
    c.sql("shapes", "CREATE TABLE public.plain (id int PRIMARY KEY)")
        .unwrap();
    let client = conn::connect_str(&c.conninfo("shapes")).await.unwrap();
    let (base, _) = queries_of_one_read(&client).await;
    c.sql(
        "shapes",
        "CREATE TABLE public.simple (a int CHECK (a > 0 AND a <> -1),
                                     b text CHECK (b <> 'x' OR b IS NULL), f bool CHECK (NOT f));
         CREATE INDEX ON public.simple (a) WHERE a > 10 AND f;",
    )
    .unwrap();
    assert_eq!(queries_of_one_read(&client).await.0, base, "simple shapes");
    c.sql(
        "shapes",
        "ALTER TABLE public.simple ADD CHECK (length(b) < 5), ADD CHECK (a IN (1, 2));",
    )
    .unwrap();
    assert_eq!(queries_of_one_read(&client).await.0, base + 1, "two checks");
    c.sql(
        "shapes",
        "CREATE INDEX ON public.simple (a) WHERE b IN ('a', 'b')",
    )
    .unwrap();
    assert_eq!(
        queries_of_one_read(&client).await.0,
        base + 2,
        "a predicate"
    );
}
