//! `pgmove roles`: a source's roles land on a target with their attributes, memberships,
//! settings and comments, read by a source user that is not a superuser, for a target user
//! that is a superuser or only has CREATEROLE; provider roles and attributes the target user
//! may not grant are left out with warnings; a second run does nothing; the script form gives
//! the same target and can run twice. What the target holds is read with psql queries on
//! pg_roles, pg_auth_members, pg_db_role_setting and shobj_description, on both sides.

use pgmove_core::{conn, roles};
use pgmove_testkit::{test_pairs, Cluster, Major};

/// Roles of every attribute, memberships with ADMIN OPTION, settings (role-wide, in the migrated
/// database, in another database), comments, a column grant, a provider-like role, and the
/// source's reading user (CREATEROLE, not a superuser).
const SOURCE_ROLES: &str = r#"
CREATE ROLE r_login LOGIN PASSWORD 'SrcSecret-123' CONNECTION LIMIT 7 VALID UNTIL '2031-02-03 04:05:06+00';
CREATE ROLE r_super SUPERUSER;
CREATE ROLE r_repl REPLICATION LOGIN;
CREATE ROLE r_bypass BYPASSRLS;
CREATE ROLE r_createdb CREATEDB VALID UNTIL 'infinity';
CREATE ROLE r_createrole CREATEROLE;
CREATE ROLE r_noinherit NOINHERIT LOGIN;
CREATE ROLE "Group ""Quoted""";
CREATE ROLE r_reader;
CREATE ROLE r_colgrant;
CREATE ROLE rds_superuser;
CREATE ROLE src_admin LOGIN CREATEROLE;
CREATE ROLE tgt_admin LOGIN CREATEROLE CREATEDB;
GRANT "Group ""Quoted""" TO tgt_admin WITH ADMIN OPTION;
GRANT "Group ""Quoted""" TO r_login WITH ADMIN OPTION;
GRANT r_reader TO "Group ""Quoted""";
GRANT r_reader TO r_noinherit;
GRANT rds_superuser TO r_createrole;
ALTER ROLE r_login SET work_mem = '3MB';
ALTER ROLE r_login SET search_path = "$user", app, "Odd Schema";
ALTER ROLE r_reader IN DATABASE app SET statement_timeout = '5s';
ALTER ROLE r_noinherit IN DATABASE app SET work_mem = '2MB';
ALTER ROLE r_noinherit IN DATABASE postgres SET work_mem = '9MB';
COMMENT ON ROLE r_reader IS 'reads it''s data';
COMMENT ON ROLE "Group ""Quoted""" IS 'a group';
"#;

const SOURCE_OBJECTS: &str = "
CREATE SCHEMA app;
CREATE TABLE app.t (a int, secret text);
GRANT SELECT (a) ON app.t TO r_colgrant;
GRANT USAGE ON SCHEMA app TO r_reader;
";

/// The roles compared between the two sides (every source role but `postgres`, which both
/// have, and the provider-like one). `tgt_admin` is also the target's connecting user when
/// that is not the superuser: already there, with the same attributes.
const COMPARED: &[&str] = &[
    "r_login",
    "r_super",
    "r_repl",
    "r_bypass",
    "r_createdb",
    "r_createrole",
    "r_noinherit",
    "Group \"Quoted\"",
    "r_reader",
    "r_colgrant",
    "src_admin",
    "tgt_admin",
];

fn array(names: &[&str]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('"', "\\\"")))
        .collect();
    format!("'{{{}}}'", quoted.join(","))
}

/// psql, unaligned and tuples only, as the superuser.
fn q(c: &Cluster, db: &str, sql: &str) -> String {
    c.psql(db, &["-At", "-c", sql]).unwrap()
}

/// Each role's attributes, settings (role-wide and in the connected database) and comment.
/// `keep` false: SUPERUSER, REPLICATION and BYPASSRLS read as false (what a target user that
/// is not a superuser can create).
fn role_state(c: &Cluster, db: &str, names: &[&str], keep: bool) -> String {
    let k = |col: &str| {
        if keep {
            col.to_string()
        } else {
            format!("false AS {col}")
        }
    };
    q(
        c,
        db,
        &format!(
            "SELECT rolname, {}, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, {}, {},
                    rolconnlimit, (rolvaliduntil AT TIME ZONE 'UTC')::text,
                    shobj_description(r.oid, 'pg_authid'),
                    (SELECT setconfig FROM pg_db_role_setting WHERE setrole = r.oid AND setdatabase = 0),
                    (SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                      WHERE setrole = r.oid AND d.datname = current_database())
               FROM pg_roles r WHERE rolname = ANY({}) ORDER BY rolname",
            k("rolsuper"),
            k("rolreplication"),
            // pg_roles.rolbypassrls arrives in 9.5.
            if c.major() >= Major::V9_5 {
                k("rolbypassrls")
            } else {
                "false AS rolbypassrls".into()
            },
            array(names)
        ),
    )
}

/// Memberships among `names` (not those of `skip_member`, the target's connecting user), with
/// ADMIN, and with INHERIT and SET when `options`.
fn memberships(c: &Cluster, names: &[&str], skip_member: &str, options: bool) -> String {
    let opts = if options {
        ", bool_or(a.inherit_option), bool_or(a.set_option)"
    } else {
        ""
    };
    q(
        c,
        "postgres",
        &format!(
            "SELECT r.rolname, m.rolname, bool_or(a.admin_option){opts}
               FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
               JOIN pg_roles m ON m.oid = a.member
              WHERE r.rolname = ANY({n}) AND m.rolname = ANY({n}) AND m.rolname <> '{skip_member}'
              GROUP BY 1, 2 ORDER BY 1, 2",
            n = array(names)
        ),
    )
}

fn source(major: Major) -> Cluster {
    let src = Cluster::start(major).unwrap();
    src.create_db("app").unwrap();
    // BYPASSRLS arrives in 9.5: a 9.4 source's r_bypass is a plain role.
    let roles = if major >= Major::V9_5 {
        SOURCE_ROLES.to_string()
    } else {
        SOURCE_ROLES.replace("CREATE ROLE r_bypass BYPASSRLS;", "CREATE ROLE r_bypass;")
    };
    src.sql("postgres", &roles).unwrap();
    if major >= 16 {
        src.sql(
            "postgres",
            "GRANT r_reader TO r_createdb WITH INHERIT FALSE, SET FALSE",
        )
        .unwrap();
    }
    src.sql("app", SOURCE_OBJECTS).unwrap();
    src
}

async fn connect_as(c: &Cluster, user: &str, db: &str) -> tokio_postgres::Client {
    conn::connect_str(&format!(
        "host=127.0.0.1 port={} user={user} dbname={db}",
        c.port()
    ))
    .await
    .unwrap()
}

/// The target kinds: its superuser, or `tgt_admin` with CREATEROLE and CREATEDB only (as on a
/// managed server), which already created `r_reader` (with other attributes and a comment).
#[derive(Clone, Copy, Debug, PartialEq)]
enum TargetUser {
    Superuser,
    CreateRole,
}

fn target(major: Major, who: TargetUser) -> (Cluster, &'static str) {
    let tgt = Cluster::start(major).unwrap();
    tgt.create_db("newapp").unwrap();
    match who {
        TargetUser::Superuser => (tgt, "postgres"),
        TargetUser::CreateRole => {
            tgt.sql(
                "postgres",
                "CREATE ROLE tgt_admin LOGIN CREATEROLE CREATEDB;
                 SET ROLE tgt_admin;
                 CREATE ROLE r_reader LOGIN CONNECTION LIMIT 1;
                 COMMENT ON ROLE r_reader IS 'the target''s own';",
            )
            .unwrap();
            (tgt, "tgt_admin")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_land_with_attributes_memberships_settings_and_comments() {
    for (sm, tm) in test_pairs() {
        let src = source(sm);
        let s = connect_as(&src, "src_admin", "app").await;
        // The source user cannot read pg_authid, and the read still works.
        let denied = s.query("SELECT rolpassword FROM pg_authid", &[]).await;
        assert_eq!(
            denied.unwrap_err().code().map(|c| c.code()),
            Some("42501"),
            "{sm}: src_admin must not read pg_authid"
        );
        for who in [TargetUser::Superuser, TargetUser::CreateRole] {
            let ctx = format!("{sm}->{tm} as {who:?}");
            let (tgt, user) = target(tm, who);
            let t = connect_as(&tgt, user, "newapp").await;
            let plan = roles::prepare(&s, Some(&t), &roles::Options::new())
                .await
                .unwrap();
            roles::apply_in_transaction(&t, &plan).await.unwrap();
            let r = &plan.report;
            let w = r.warnings.join("\n");

            // Provider role: not created, its membership left out, each with a warning.
            assert_eq!(r.skipped, ["rds_superuser"], "{ctx}");
            assert!(w.contains("role rds_superuser not created"), "{ctx}: {w}");
            assert!(
                w.contains("membership of r_createrole in rds_superuser left out"),
                "{ctx}: {w}"
            );
            assert_eq!(
                q(
                    &tgt,
                    "postgres",
                    "SELECT count(*) FROM pg_roles WHERE rolname = 'rds_superuser'"
                ),
                "0\n",
                "{ctx}"
            );
            assert!(!r.created.iter().any(|c| c == "postgres"), "{ctx}");
            assert!(r.already_there.iter().any(|c| c == "postgres"), "{ctx}");

            let superuser = who == TargetUser::Superuser;
            let compared: Vec<&str> = COMPARED
                .iter()
                .copied()
                .filter(|n| superuser || *n != "r_reader")
                .collect();
            // Attributes, settings (the other database's not moved) and comments as the
            // source's; without a superuser, SUPERUSER/REPLICATION/BYPASSRLS are left out.
            let state = role_state(&src, "app", &compared, superuser);
            assert_eq!(state.lines().count(), compared.len(), "{ctx}: {state}");
            assert_eq!(
                role_state(&tgt, "newapp", &compared, superuser),
                state,
                "{ctx}"
            );
            assert!(
                q(&tgt, "postgres", "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'r_noinherit' AND s.setdatabase <> 0 AND s.setdatabase <> (SELECT oid FROM pg_database WHERE datname = 'newapp')").is_empty(),
                "{ctx}: only the migrated database's settings move"
            );
            if superuser {
                assert!(!w.contains("left out: the target user"), "{ctx}: {w}");
            } else {
                let left_out: &[(&str, &str)] = if sm >= Major::V9_5 {
                    &[
                        ("r_super", "SUPERUSER"),
                        ("r_repl", "REPLICATION"),
                        ("r_bypass", "BYPASSRLS"),
                    ]
                } else {
                    &[("r_super", "SUPERUSER"), ("r_repl", "REPLICATION")]
                };
                for &(role, attr) in left_out {
                    assert!(
                        w.contains(&format!(
                            "role {role}: {attr} left out: the target user tgt_admin"
                        )),
                        "{ctx}: {w}"
                    );
                }
                // A role already there is left as it is: attributes, comment, settings.
                assert_eq!(
                    r.already_there.iter().filter(|n| *n == "r_reader").count(),
                    1
                );
                assert_eq!(
                    q(&tgt, "newapp", "SELECT rolcanlogin, rolconnlimit, shobj_description(oid, 'pg_authid'), (SELECT count(*) FROM pg_db_role_setting WHERE setrole = r.oid) FROM pg_roles r WHERE rolname = 'r_reader'"),
                    "t|1|the target's own|0\n",
                    "{ctx}"
                );
            }
            // Memberships among the roles, ADMIN OPTION (and INHERIT/SET when both are 16+) as
            // on the source; the target user's own memberships (16+ gives a creating user
            // ADMIN on what it creates) are not compared.
            let both16 = sm >= 16 && tm >= 16;
            let want = memberships(&src, COMPARED, user, both16);
            assert_eq!(
                want.lines().count(),
                usize::from(superuser) + if sm >= 16 { 4 } else { 3 },
                "{ctx}: {want}"
            );
            assert_eq!(memberships(&tgt, COMPARED, user, both16), want, "{ctx}");
            if sm >= 16 && tm < 16 {
                // What the older target cannot express is granted with a warning.
                assert!(
                    w.contains(
                        "membership of r_createdb in r_reader: SET FALSE cannot be expressed"
                    ),
                    "{ctx}: {w}"
                );
            }
            if tm >= 16 && sm < 16 {
                // Before 16 the member's INHERIT attribute decided: the grant says so.
                assert_eq!(
                    q(&tgt, "postgres", "SELECT a.inherit_option, a.set_option FROM pg_auth_members a WHERE a.roleid = 'r_reader'::regrole AND a.member = 'r_noinherit'::regrole"),
                    "f|t\n",
                    "{ctx}"
                );
            }
            // LOGIN roles created are listed for a password; none of them has one.
            let mut want: Vec<&str> = vec!["r_login", "r_noinherit", "r_repl", "src_admin"];
            if superuser {
                want.push("tgt_admin");
            } else {
                // The target user's own membership from the source: granted, ADMIN included
                // (on 16+ the one the server gave it as the group's creator).
                assert_eq!(
                    q(&tgt, "postgres", "SELECT pg_has_role('tgt_admin', 'Group \"Quoted\"', 'USAGE'), pg_has_role('tgt_admin', 'Group \"Quoted\"', 'USAGE WITH ADMIN OPTION')"),
                    "t|t\n",
                    "{ctx}"
                );
            }
            want.sort();
            let mut got: Vec<&str> = r.need_password.iter().map(String::as_str).collect();
            got.sort();
            assert_eq!(got, want, "{ctx}");
            assert_eq!(
                q(
                    &tgt,
                    "postgres",
                    "SELECT count(*) FROM pg_authid WHERE rolpassword IS NOT NULL"
                ),
                "0\n",
                "{ctx}"
            );

            // Second run: nothing to do, nothing changes.
            let before = (
                role_state(&tgt, "newapp", COMPARED, true),
                memberships(&tgt, COMPARED, "", tm >= 16),
            );
            let again = roles::prepare(&s, Some(&t), &roles::Options::new())
                .await
                .unwrap();
            assert!(again.report.nothing_to_do(), "{ctx}: {:?}", again.report);
            assert!(again.units.is_empty(), "{ctx}");
            roles::apply_in_transaction(&t, &again).await.unwrap();
            assert_eq!(
                (
                    role_state(&tgt, "newapp", COMPARED, true),
                    memberships(&tgt, COMPARED, "", tm >= 16),
                ),
                before,
                "{ctx}"
            );
        }
    }
}

/// The script (`-o`) gives the target the direct apply gives, and runs twice cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_gives_the_same_roles_and_runs_twice() {
    let (sm, tm) = test_pairs()[0];
    let src = source(sm);
    let s = connect_as(&src, "src_admin", "app").await;
    let (direct, _) = target(tm, TargetUser::Superuser);
    let (scripted, _) = target(tm, TargetUser::Superuser);
    let d = connect_as(&direct, "postgres", "newapp").await;
    let plan = roles::prepare(&s, Some(&d), &roles::Options::new())
        .await
        .unwrap();
    roles::apply_in_transaction(&d, &plan).await.unwrap();
    let mut script = Vec::new();
    roles::write_script(&mut script, "test", &plan).unwrap();
    let text = String::from_utf8(script.clone()).unwrap();
    assert!(!text.contains("SrcSecret") && !text.contains("SCRAM") && !text.contains("md5"));
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), &script).unwrap();
    for _ in 0..2 {
        scripted
            .psql("newapp", &["-f", f.path().to_str().unwrap()])
            .unwrap();
    }
    assert_eq!(
        role_state(&scripted, "newapp", COMPARED, true),
        role_state(&direct, "newapp", COMPARED, true)
    );
    assert_eq!(
        memberships(&scripted, COMPARED, "", tm >= 16),
        memberships(&direct, COMPARED, "", tm >= 16)
    );
    // A script planned without the target (assumed: not a superuser) runs on it too, and on a
    // target that has everything, changes nothing.
    let assumed = roles::prepare(&s, None, &roles::Options::new())
        .await
        .unwrap();
    let mut script = Vec::new();
    roles::write_script(&mut script, "test", &assumed).unwrap();
    std::fs::write(f.path(), &script).unwrap();
    let before = role_state(&scripted, "newapp", COMPARED, true);
    scripted
        .psql("newapp", &["-f", f.path().to_str().unwrap()])
        .unwrap();
    assert_eq!(role_state(&scripted, "newapp", COMPARED, true), before);
}

/// `only_used`: the roles the database's objects name, and their memberships both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_used_roles() {
    let (sm, tm) = test_pairs()[0];
    let src = source(sm);
    // As the superuser: the catalog reader only_used needs reads pg_user_mapping, which only a
    // superuser may read (a gap of catalog::read, not of the roles read).
    let s = connect_as(&src, "postgres", "app").await;
    let (tgt, _) = target(tm, TargetUser::Superuser);
    let t = connect_as(&tgt, "postgres", "newapp").await;
    let mut opts = roles::Options::new();
    opts.only_used = true;
    let plan = roles::prepare(&s, Some(&t), &opts).await.unwrap();
    let mut created = plan.report.created.clone();
    created.sort();
    // r_colgrant (column grant), r_reader (schema grant), its members "Group" and r_noinherit
    // (and r_createdb on 16+), "Group"'s members r_login and tgt_admin; postgres owns
    // everything (there).
    let mut want = vec![
        "Group \"Quoted\"",
        "r_colgrant",
        "r_login",
        "r_noinherit",
        "r_reader",
        "tgt_admin",
    ];
    if sm >= 16 {
        want.push("r_createdb");
    }
    want.sort();
    assert_eq!(created, want, "{:?}", plan.report);
    assert_eq!(plan.report.already_there, ["postgres"]);
}

/// A statement failing half-way leaves no role, membership or setting behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_rolls_everything_back() {
    let (sm, tm) = test_pairs()[0];
    let src = source(sm);
    let s = connect_as(&src, "src_admin", "app").await;
    let (tgt, _) = target(tm, TargetUser::Superuser);
    let t = connect_as(&tgt, "postgres", "newapp").await;
    let mut plan = roles::prepare(&s, Some(&t), &roles::Options::new())
        .await
        .unwrap();
    assert!(plan.units.len() > 5);
    // The target refuses the last statement: a role of the plan renamed to one it cannot take.
    let last = plan.units.last_mut().unwrap();
    last.statements.push(roles::Statement::Sql(
        "ALTER ROLE r_login RENAME TO pg_nope;\n".into(),
    ));
    let before = role_state(&tgt, "newapp", COMPARED, true);
    let err = roles::apply_in_transaction(&t, &plan)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("pg_nope") && err.contains("SQLSTATE"), "{err}");
    assert_eq!(role_state(&tgt, "newapp", COMPARED, true), before);
    assert_eq!(before, "", "no role of the source was there before");
    assert_eq!(
        q(&tgt, "postgres", "SELECT count(*) FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid WHERE r.rolname !~ '^pg_'"),
        "0\n"
    );
}
