//! The connection layer against real servers: every sslmode against a TLS server with a test CA,
//! and the one-line errors for a wrong password, a missing database and a closed port.
//!
//! Connection strings are resolved with a fixed environment (an empty temporary HOME, so no
//! `~/.pgpass` or `~/.postgresql/root.crt` of the machine changes the outcome).

use pgmove_core::conn::{connect, ConnSpec};
use pgmove_core::Error;
use pgmove_testkit::Cluster;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

const PW: &str = "tls-test-pw";

/// A CA named `ca_name` and a server certificate it signed for `names`; PEM texts.
struct Pki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

fn pki(ca_name: &str, names: &[&str]) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut server =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    server.distinguished_name.push(DnType::CommonName, names[0]);
    let server = server.signed_by(&server_key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server_cert_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
    }
}

/// Resolve `s` with only USER and an empty HOME in the environment.
fn spec(s: &str, home: &Path) -> ConnSpec {
    let home = home.to_str().unwrap().to_string();
    let env = move |k: &str| match k {
        "HOME" => Some(home.clone()),
        "USER" => Some("postgres".into()),
        _ => None,
    };
    ConnSpec::parse_with_env(s, &env).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Connect and report whether the session is encrypted (`pg_stat_ssl`).
async fn connect_ssl(s: &str, home: &Path) -> Result<bool, Error> {
    let client = connect(&spec(s, home)).await?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    Ok(row.get(0))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn sslmodes_against_a_tls_server() {
    let good = pki("pgmove test CA", &["localhost", "127.0.0.1"]);
    let other = pki("some other CA", &["localhost"]);
    let cluster = Cluster::builder(15)
        .ssl(&good.server_cert_pem, &good.server_key_pem)
        .password(PW)
        .start()
        .expect("start TLS cluster");
    let home = tempfile::tempdir().unwrap();
    let ca = write(home.path(), "ca.pem", &good.ca_pem);
    let untrusted = write(home.path(), "other-ca.pem", &other.ca_pem);
    let (ca, untrusted) = (ca.display(), untrusted.display());
    let port = cluster.port();
    let base = format!("port={port} user=postgres dbname=postgres password={PW}");
    let h = home.path();

    // (name, connection string, Some(encrypted) when it must connect, None when rejected)
    let cases: Vec<(&str, String, Option<bool>)> = vec![
        (
            "verify-full, right CA, host=localhost",
            format!("{base} host=localhost sslmode=verify-full sslrootcert={ca}"),
            Some(true),
        ),
        (
            "verify-full, right CA, host=127.0.0.1 (IP SAN)",
            format!("{base} host=127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
            Some(true),
        ),
        (
            "verify-full as a URI",
            format!(
                "postgresql://postgres:{PW}@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}&application_name=tls%20test"
            ),
            Some(true),
        ),
        (
            "verify-full, host name not in the certificate",
            format!("{base} host=wrong.example hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
            None,
        ),
        (
            "verify-full, untrusted CA",
            format!("{base} host=localhost sslmode=verify-full sslrootcert={untrusted}"),
            None,
        ),
        (
            "verify-full, system roots do not hold the test CA",
            format!("{base} host=localhost sslrootcert=system"),
            None,
        ),
        (
            "verify-ca, right CA, host name not checked",
            format!("{base} host=wrong.example hostaddr=127.0.0.1 sslmode=verify-ca sslrootcert={ca}"),
            Some(true),
        ),
        (
            "verify-ca, untrusted CA",
            format!("{base} host=localhost sslmode=verify-ca sslrootcert={untrusted}"),
            None,
        ),
        (
            "require, no root certificate: encrypted, unverified",
            format!("{base} host=wrong.example hostaddr=127.0.0.1 sslmode=require"),
            Some(true),
        ),
        (
            "require with an untrusted root certificate verifies like verify-ca",
            format!("{base} host=localhost sslmode=require sslrootcert={untrusted}"),
            None,
        ),
        (
            "require with channel binding (SCRAM-SHA-256-PLUS)",
            format!("{base} host=localhost sslmode=require channel_binding=require"),
            Some(true),
        ),
        (
            "prefer (the default) uses TLS",
            format!("{base} host=localhost"),
            Some(true),
        ),
        (
            "prefer falls back to plain when verification fails, as libpq",
            format!("{base} host=localhost sslmode=prefer sslrootcert={untrusted}"),
            Some(false),
        ),
        (
            "allow tries plain first",
            format!("{base} host=localhost sslmode=allow"),
            Some(false),
        ),
        (
            "disable",
            format!("{base} host=localhost sslmode=disable"),
            Some(false),
        ),
    ];
    let mut failures = Vec::new();
    for (name, s, want) in &cases {
        let got = connect_ssl(s, h).await;
        match (want, &got) {
            (Some(enc), Ok(e)) if enc == e => {}
            (None, Err(Error::Connect { message, .. })) => {
                assert!(!message.contains(PW), "{name}: password in {message}");
                assert_eq!(message.lines().count(), 1, "{name}: {message}");
                eprintln!(
                    "{name}: rejected as expected: {}",
                    got.as_ref().unwrap_err()
                );
            }
            _ => failures.push(format!("{name}: expected {want:?}, got {got:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nserver log:\n{}",
        failures.join("\n"),
        cluster.log()
    );

    // The rejections say why.
    let e = connect_ssl(
        &format!(
            "{base} host=wrong.example hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={ca}"
        ),
        h,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("wrong.example"), "{e}");
    assert!(e.contains("TLS"), "{e}");
    let e = connect_ssl(
        &format!("{base} host=localhost sslmode=verify-ca sslrootcert={untrusted}"),
        h,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("not signed by a trusted root certificate"),
        "{e}"
    );
}

#[tokio::test]
async fn connection_errors_are_one_clear_line() {
    let cluster = Cluster::builder(15)
        .password(PW)
        .start()
        .expect("start cluster");
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let port = cluster.port();

    // The right password works, from the string and from a password file.
    assert!(!connect_ssl(&cluster.conninfo("postgres"), h).await.unwrap());
    assert!(!connect_ssl(&cluster.url("postgres"), h).await.unwrap());
    let pgpass = write(h, ".pgpass", &format!("127.0.0.1:{port}:*:postgres:{PW}\n"));
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let no_pw = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    assert!(
        !connect_ssl(&no_pw, h).await.unwrap(),
        "password from ~/.pgpass"
    );

    let wrong = "not-the-pw-XYZ";
    let cases = [
        (
            format!("{no_pw} password={wrong}"),
            format!("could not connect to postgres@127.0.0.1:{port}/postgres: password authentication failed for user \"postgres\""),
        ),
        (
            format!("postgres://postgres:{PW}@127.0.0.1:{port}/nosuchdb"),
            format!("could not connect to postgres@127.0.0.1:{port}/nosuchdb: database \"nosuchdb\" does not exist"),
        ),
        (
            format!("{no_pw} password={PW} sslmode=require"),
            "server does not support TLS".into(),
        ),
    ];
    for (s, want) in &cases {
        let e = connect(&spec(s, h)).await.expect_err(s);
        let msg = e.to_string();
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        assert!(msg.contains(want.as_str()), "{s}: got {msg}, want {want}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
        assert!(!msg.contains(PW) && !msg.contains(wrong), "{msg}");
    }

    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = format!("host=127.0.0.1 port={closed} user=postgres password={PW} connect_timeout=5");
    let msg = connect(&spec(&s, h)).await.unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "could not connect to postgres@127.0.0.1:{closed}/postgres: "
        )),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("connection refused"), "{msg}");
    assert!(!msg.contains(PW), "{msg}");
}
