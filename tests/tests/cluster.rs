//! Throwaway clusters start (as root too) and serve queries.
use pgmove_testkit::Cluster;

#[test]
fn cluster_15_starts_and_answers() {
    let c = Cluster::start(15).expect("start cluster");
    let out = c.sql("postgres", "select 40 + 2").unwrap();
    assert!(out.contains("42"), "{out}");
}
