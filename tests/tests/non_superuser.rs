//! A source read by a user who is not a superuser, as on Amazon RDS (whose master user is
//! not one): the catalog read must use only what such a user may read. pg_user_mapping is
//! superuser-only; its view pg_user_mappings is what pg_dump and pgmove read.

use pgmove_core::{catalog, conn};
use pgmove_testkit::{test_pairs, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_owner_without_superuser_reads_the_whole_catalog() {
    for (sm, _) in test_pairs() {
        let source = Cluster::start(sm).unwrap();
        source.sql("postgres", "CREATE ROLE app LOGIN").unwrap();
        source
            .sql(
                "postgres",
                "CREATE DATABASE app OWNER app TEMPLATE template0",
            )
            .unwrap();
        source
            .sql(
                "app",
                "CREATE FOREIGN DATA WRAPPER dummy;
                 CREATE SERVER srv FOREIGN DATA WRAPPER dummy;
                 GRANT USAGE ON FOREIGN SERVER srv TO app;
                 CREATE USER MAPPING FOR postgres SERVER srv OPTIONS (user 'admin');",
            )
            .unwrap();
        let as_app = format!("host=127.0.0.1 port={} user=app dbname=app", source.port());
        let client = conn::connect_str(&as_app).await.unwrap();
        client
            .batch_execute(
                "CREATE TABLE t (id int PRIMARY KEY, v text);
                 CREATE VIEW v AS SELECT id FROM t;
                 CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';
                 CREATE USER MAPPING FOR app SERVER srv OPTIONS (user 'remote_app');",
            )
            .await
            .unwrap();
        let denied = client
            .simple_query("SELECT count(*) FROM pg_catalog.pg_user_mapping")
            .await;
        assert!(
            denied.is_err(),
            "{sm}: the test user must not read pg_user_mapping"
        );

        let cat = catalog::read(&client)
            .await
            .unwrap_or_else(|e| panic!("{sm}: a database owner's read failed: {e}"));
        assert!(cat.tables.iter().any(|t| t.name == "t"));
        let srv = cat
            .foreign_servers
            .iter()
            .find(|s| s.name == "srv")
            .expect("the server is read");
        let mut roles: Vec<&str> = srv.user_mappings.iter().map(|(r, _)| r.as_str()).collect();
        roles.sort();
        assert_eq!(roles, ["app", "postgres"], "{sm}");
        let own = srv.user_mappings.iter().find(|(r, _)| r == "app").unwrap();
        assert_eq!(
            own.1,
            ["user=remote_app"],
            "{sm}: the user's own mapping keeps its options"
        );
    }
}
