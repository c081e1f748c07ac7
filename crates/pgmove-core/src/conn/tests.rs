//! Table-driven tests of resolution: string > environment > defaults, and the password file.
#![allow(clippy::type_complexity)] // the case tables spell their columns out

use super::*;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// An environment with a user and a home without any password file or certificates.
const BASE: &[(&str, &str)] = &[("USER", "osuser"), ("HOME", "/nonexistent-home")];

fn spec(s: &str, extra: &[(&str, &str)]) -> Result<ConnSpec> {
    let mut pairs = BASE.to_vec();
    pairs.extend_from_slice(extra);
    ConnSpec::parse_with_env(s, &env_of(&pairs))
}

#[test]
fn string_beats_environment_beats_defaults() {
    let default_host = env::default_host();
    // (string, environment, host, port, user, dbname, sslmode)
    let cases: &[(&str, &[(&str, &str)], &str, u16, &str, &str, SslMode)] = &[
        (
            "",
            &[],
            &default_host,
            5432,
            "osuser",
            "osuser",
            SslMode::Prefer,
        ),
        (
            "",
            &[("USER", ""), ("LOGNAME", "logname")],
            &default_host,
            5432,
            "logname",
            "logname",
            SslMode::Prefer,
        ),
        (
            "user=u",
            &[],
            &default_host,
            5432,
            "u",
            "u",
            SslMode::Prefer,
        ),
        (
            "",
            &[
                ("PGHOST", "envhost"),
                ("PGPORT", "6000"),
                ("PGUSER", "envuser"),
                ("PGDATABASE", "envdb"),
                ("PGSSLMODE", "require"),
            ],
            "envhost",
            6000,
            "envuser",
            "envdb",
            SslMode::Require,
        ),
        (
            "host=strhost port=7000 user=struser dbname=strdb sslmode=disable",
            &[
                ("PGHOST", "envhost"),
                ("PGPORT", "6000"),
                ("PGUSER", "envuser"),
                ("PGDATABASE", "envdb"),
                ("PGSSLMODE", "require"),
            ],
            "strhost",
            7000,
            "struser",
            "strdb",
            SslMode::Disable,
        ),
        (
            "postgres://struser@strhost/strdb",
            &[
                ("PGHOST", "envhost"),
                ("PGPORT", "6000"),
                ("PGUSER", "envuser"),
            ],
            "strhost",
            6000,
            "struser",
            "strdb",
            SslMode::Prefer,
        ),
        (
            "host=''",
            &[("PGHOST", "envhost")],
            "envhost",
            5432,
            "osuser",
            "osuser",
            SslMode::Prefer,
        ),
        (
            "hostaddr=10.0.0.1",
            &[],
            "10.0.0.1",
            5432,
            "osuser",
            "osuser",
            SslMode::Prefer,
        ),
        (
            "hostaddr=10.0.0.1",
            &[("PGHOST", "db.example.com")],
            "db.example.com",
            5432,
            "osuser",
            "osuser",
            SslMode::Prefer,
        ),
        (
            "host=/tmp/sock",
            &[],
            "/tmp/sock",
            5432,
            "osuser",
            "osuser",
            SslMode::Prefer,
        ),
        (
            "postgres://[::1]:5433/x",
            &[],
            "::1",
            5433,
            "osuser",
            "x",
            SslMode::Prefer,
        ),
    ];
    for (s, env, host, port, user, db, mode) in cases {
        let sp = spec(s, env).unwrap_or_else(|e| panic!("{s:?} {env:?}: {e}"));
        assert_eq!(
            (sp.host(), sp.port(), sp.user(), sp.dbname(), sp.sslmode()),
            (*host, *port, *user, *db, *mode),
            "{s:?} {env:?}"
        );
    }
}

#[test]
fn other_keywords_resolve() {
    let sp = spec(
        "hostaddr=127.0.0.1 host=db connect_timeout=1 application_name=a options='-c x=1' \
         target_session_attrs=read-only keepalives=0 channel_binding=require",
        &[
            ("PGAPPNAME", "env"),
            ("PGCONNECT_TIMEOUT", "30"),
            ("PGOPTIONS", "-c y=2"),
        ],
    )
    .unwrap();
    assert_eq!(sp.hostaddr(), Some("127.0.0.1".parse().unwrap()));
    assert_eq!(
        sp.connect_timeout,
        Some(Duration::from_secs(2)),
        "libpq's minimum"
    );
    assert_eq!(sp.application_name, "a");
    assert_eq!(sp.options.as_deref(), Some("-c x=1"));
    assert_eq!(sp.target_session_attrs, TargetSessionAttrs::ReadOnly);
    assert!(!sp.keepalives);
    assert_eq!(sp.channel_binding, ChannelBinding::Require);

    let sp = spec(
        "",
        &[
            ("PGAPPNAME", "env"),
            ("PGCONNECT_TIMEOUT", "30"),
            ("PGOPTIONS", "-c y=2"),
        ],
    )
    .unwrap();
    assert_eq!(sp.application_name, "env");
    assert_eq!(sp.connect_timeout, Some(Duration::from_secs(30)));
    assert_eq!(sp.options.as_deref(), Some("-c y=2"));
    let sp = spec("connect_timeout=0", &[]).unwrap();
    assert_eq!(sp.connect_timeout, None);
    assert_eq!(sp.application_name, "pgmove");
    let sp = spec("fallback_application_name=fb", &[]).unwrap();
    assert_eq!(sp.application_name, "fb");
}

#[test]
fn invalid_values_are_config_errors() {
    let cases: &[(&str, &[(&str, &str)], &str)] = &[
        (
            "sslmode=sometimes",
            &[],
            "invalid sslmode value: \"sometimes\"",
        ),
        (
            "",
            &[("PGSSLMODE", "bogus")],
            "invalid sslmode value: \"bogus\"",
        ),
        (
            "port=abc",
            &[],
            "invalid integer value \"abc\" for connection option \"port\"",
        ),
        ("port=70000", &[], "invalid port number: \"70000\""),
        ("port=0", &[], "invalid port number"),
        ("", &[("PGPORT", "x")], "invalid integer value \"x\""),
        (
            "hostaddr=db.example.com",
            &[],
            "could not parse network address",
        ),
        ("connect_timeout=soon", &[], "\"connect_timeout\""),
        (
            "target_session_attrs=any-old",
            &[],
            "invalid target_session_attrs value",
        ),
        (
            "channel_binding=maybe",
            &[],
            "invalid channel_binding value",
        ),
        (
            "sslrootcert=system sslmode=require",
            &[],
            "weak sslmode \"require\" may not be used with sslrootcert=system",
        ),
        (
            "sslrootcert=system",
            &[("PGSSLMODE", "verify-ca")],
            "weak sslmode \"verify-ca\"",
        ),
        (
            "sslrootcert=/nonexistent/ca.pem sslmode=require",
            &[],
            "root certificate file \"/nonexistent/ca.pem\" does not exist",
        ),
        (
            "sslcert=/c.pem",
            &[],
            "sslcert and sslkey must be given together",
        ),
        ("", &[("PGHOST", "a,b")], "multiple hosts"),
        ("gssencmode=require", &[], "GSSAPI"),
        (
            "",
            &[("USER", ""), ("PGPORT", "abc")],
            "invalid integer value",
        ),
    ];
    for (s, env, want) in cases {
        match spec(s, env) {
            Ok(sp) => panic!("{s:?} {env:?} should fail, got {sp:?}"),
            Err(e) => {
                assert!(matches!(e, Error::Config(_)), "{s:?}: {e:?}");
                assert!(e.to_string().contains(want), "{s:?}: {e}");
            }
        }
    }
    let sp = spec("sslrootcert=system", &[]).unwrap();
    assert_eq!(
        sp.sslmode(),
        SslMode::VerifyFull,
        "system roots imply verify-full"
    );
}

fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn password_precedence_and_pgpass() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap().to_string();
    write_private(
        &home.path().join(".pgpass"),
        "# comment\n\
         db:5432:app:alice:home-app\n\
         db:5432:*:alice:home-any\n\
         localhost:5432:*:*:home-socket\n\
         10.1.2.3:*:*:*:home-addr\n",
    );
    let other = home.path().join("other-pgpass");
    write_private(&other, "*:*:*:*:other-file\n");
    let third = home.path().join("third-pgpass");
    write_private(&third, "*:*:*:*:third-file\n");
    let h = ("HOME", home_s.as_str());
    let other_s = other.to_str().unwrap();
    let passfile = format!("host=db user=alice dbname=app passfile={}", third.display());

    // (string, environment, password)
    let cases: &[(&str, Vec<(&str, &str)>, Option<&str>)] = &[
        ("host=db user=alice dbname=app", vec![h], Some("home-app")),
        ("host=db user=alice dbname=other", vec![h], Some("home-any")),
        ("host=db user=bob dbname=app", vec![h], None),
        ("host=db port=5433 user=alice dbname=app", vec![h], None),
        (
            "host=/var/run/postgresql user=x",
            vec![h],
            Some("home-socket"),
        ),
        ("host=localhost user=x", vec![h], Some("home-socket")),
        ("host=/tmp user=x", vec![h], None),
        ("hostaddr=10.1.2.3 user=x", vec![h], Some("home-addr")),
        (
            "host=db user=alice dbname=app password=str",
            vec![h, ("PGPASSWORD", "env")],
            Some("str"),
        ),
        (
            "postgres://alice:uri@db/app",
            vec![h, ("PGPASSWORD", "env")],
            Some("uri"),
        ),
        (
            "host=db user=alice dbname=app",
            vec![h, ("PGPASSWORD", "env")],
            Some("env"),
        ),
        (
            "host=db user=alice dbname=app password=''",
            vec![h],
            Some("home-app"),
        ),
        (
            "host=db user=alice dbname=app",
            vec![h, ("PGPASSFILE", other_s)],
            Some("other-file"),
        ),
        (
            &passfile,
            vec![h, ("PGPASSFILE", other_s)],
            Some("third-file"),
        ),
        (
            "host=db user=alice dbname=app",
            vec![("HOME", "/nonexistent-home")],
            None,
        ),
    ];
    for (s, env, want) in cases {
        let sp = spec(s, env).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(sp.password.as_deref(), *want, "{s:?} {env:?}");
    }

    // A password from the file is looked up again for another database.
    let sp = spec("host=db user=alice dbname=app", &[h]).unwrap();
    assert_eq!(
        sp.with_dbname("postgres").password.as_deref(),
        Some("home-any")
    );
    assert_eq!(sp.with_dbname("postgres").dbname(), "postgres");
    // An explicit password stays.
    let sp = spec("host=db user=alice dbname=app password=p", &[h]).unwrap();
    assert_eq!(sp.with_dbname("x").password.as_deref(), Some("p"));

    // libpq ignores a password file with any group or world permission.
    std::fs::set_permissions(
        home.path().join(".pgpass"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let sp = spec("host=db user=alice dbname=app", &[h]).unwrap();
    assert_eq!(sp.password, None);
}

#[test]
fn default_root_certificate_makes_require_verify() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let sp = spec("sslmode=require", &[("HOME", home_s)]).unwrap();
    assert_eq!(sp.tls.roots, Roots::None);
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::write(home.path().join(".postgresql/root.crt"), "x").unwrap();
    let sp = spec("sslmode=require", &[("HOME", home_s)]).unwrap();
    assert_eq!(
        sp.tls.roots,
        Roots::File(home.path().join(".postgresql/root.crt"))
    );
    assert_eq!(sp.tls.verify(), tls::Verify::Chain);
}

#[test]
fn display_safe_names_the_server() {
    let sp = spec("postgres://postgres:pw@db.example.com/app", &[]).unwrap();
    assert_eq!(sp.display_safe(), "postgres@db.example.com:5432/app");
    let sp = spec("host=::1 user=u dbname=d port=6", &[]).unwrap();
    assert_eq!(sp.display_safe(), "u@[::1]:6/d");
    let sp = spec("host=/tmp user=u dbname=d", &[]).unwrap();
    assert_eq!(sp.display_safe(), "u@/tmp:5432/d");
    let sp: ConnSpec = "host=h user=u".parse().unwrap();
    assert_eq!(sp.display_safe(), "u@h:5432/u");
}

#[tokio::test]
async fn password_never_shows() {
    const PW: &str = "s3cretPW";
    let home = tempfile::tempdir().unwrap();
    write_private(&home.path().join(".pgpass"), &format!("*:*:*:*:{PW}\n"));
    let home_s = home.path().to_str().unwrap();
    let specs = [
        spec(&format!("host=127.0.0.1 port=1 user=u password={PW}"), &[]).unwrap(),
        spec(
            &format!("postgres://u:{PW}@127.0.0.1:1/db?sslmode=disable"),
            &[],
        )
        .unwrap(),
        spec("host=127.0.0.1 port=1 user=u", &[("PGPASSWORD", PW)]).unwrap(),
        spec("host=127.0.0.1 port=1 user=u", &[("HOME", home_s)]).unwrap(),
    ];
    for sp in &specs {
        assert!(sp.has_password());
        let mut texts = vec![
            format!("{sp:?}"),
            format!("{:?}", sp.with_dbname("other")),
            sp.display_safe(),
            sp.with_dbname("other").display_safe(),
        ];
        // A real connection error (nothing listens on port 1).
        let e = connect(sp).await.expect_err("port 1 is closed");
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        texts.push(e.to_string());
        texts.push(format!("{e:?}"));
        for t in &texts {
            assert!(!t.contains(PW), "password leaked: {t}");
        }
        assert!(texts[0].contains("<redacted>"), "{}", texts[0]);
    }
    // Errors of strings that hold the password.
    for s in [
        format!("host=h password={PW} sslmode=bogus"),
        format!("host=h password={PW} port=x"),
        format!("postgres://u:{PW}@h/db?nope=1"),
        format!("postgres://u:{PW}%zz@h/db"),
        format!("host=h password={PW} more"),
    ] {
        let e = spec(&s, &[]).expect_err(&s);
        for t in [e.to_string(), format!("{e:?}")] {
            assert!(!t.contains(PW), "password leaked: {t}");
        }
    }
}

#[tokio::test]
async fn unreachable_server_is_one_clear_line() {
    let sp = spec("host=127.0.0.1 port=1 user=u dbname=d sslmode=disable", &[]).unwrap();
    let e = connect(&sp).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("could not connect to u@127.0.0.1:1/d: "),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("connection refused"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
}

#[test]
fn servers_older_than_9_4_are_unsupported() {
    let sp = spec("host=h user=u dbname=d password=s3cretPW", &[]).unwrap();
    for (num, version, ok) in [
        (Some("90400"), Some("9.4.26"), true),
        (Some("170002"), Some("17.2"), true),
        (Some("90324"), Some("9.3.24"), false),
        (Some("80423"), Some("8.4.23"), false),
        (None, None, false),
        (Some("garbage"), Some("x"), false),
    ] {
        match require_94(&sp, num, version) {
            Ok(()) => assert!(ok, "{num:?}"),
            Err(e) => {
                assert!(!ok, "{num:?}: {e}");
                assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
                let msg = e.to_string();
                assert!(
                    msg.contains("needs 9.4 or newer") && msg.contains("u@h:5432/d"),
                    "{msg}"
                );
                assert!(!msg.contains("s3cretPW"));
            }
        }
    }
}

#[test]
fn to_conninfo_round_trips_and_hides_the_password() {
    let s = spec(
        "host=db.example port=5433 user=app dbname=sales password='it\\'s\\\\x' sslmode=require",
        &[],
    )
    .unwrap();
    let secret = s.to_conninfo();
    assert_eq!(format!("{secret}"), "<redacted>");
    assert!(!format!("{secret:?}").contains("it's"));
    let back = spec(secret.expose(), &[]).unwrap();
    assert_eq!(back.display_safe(), "app@db.example:5433/sales");
    assert_eq!(back.sslmode(), SslMode::Require);
    assert_eq!(back.password.as_deref(), Some("it's\\x"));
}
