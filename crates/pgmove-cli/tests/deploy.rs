//! The pod step: what can be proved without a container engine. The binary needs no
//! PostgreSQL client library (nor OpenSSL) on the machine it runs on, the Kubernetes Job in
//! `deploy/` parses and runs `pgmove` with arguments the CLI accepts and connection strings
//! from a Secret, and the image runs as a non-root user.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Shared libraries the binary may load: the C runtime and nothing else.
const ALLOWED: &[&str] = &[
    "linux-vdso.so",
    "libc.so",
    "libm.so",
    "libgcc_s.so",
    "libpthread.so",
    "libdl.so",
    "librt.so",
    "ld-linux-x86-64.so",
    "ld-linux-aarch64.so",
];

#[test]
fn the_binary_needs_only_the_c_runtime() {
    let out = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_pgmove"))
        .output()
        .expect("ldd (Debian's libc-bin) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let libs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!libs.is_empty(), "ldd printed nothing: {text}");
    for lib in &libs {
        let name = lib.rsplit('/').next().unwrap_or(lib);
        assert!(
            ALLOWED.iter().any(|a| name.starts_with(a)),
            "pgmove links {name}, which a bare image may lack:\n{text}"
        );
    }
}

#[test]
fn the_job_manifest_runs_migrate_from_a_secret_as_non_root() {
    let text = std::fs::read_to_string(repo().join("deploy/job.yaml")).unwrap();
    let job: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("job.yaml is YAML");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let containers = pod["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args"))
        .collect();
    assert_eq!(args.first(), Some(&"migrate"));
    let env: Vec<(&str, &str)> = c["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap();
            let secret = e["valueFrom"]["secretKeyRef"]["name"]
                .as_str()
                .unwrap_or("");
            (name, secret)
        })
        .collect();
    for var in ["PGMOVE_SOURCE", "PGMOVE_TARGET"] {
        assert!(
            env.iter().any(|(n, s)| *n == var && !s.is_empty()),
            "{var} must come from a Secret: {env:?}"
        );
    }
    // Every mounted file is declared as a volume.
    let volumes: Vec<&str> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for m in c["volumeMounts"].as_sequence().unwrap() {
        assert!(volumes.contains(&m["name"].as_str().unwrap()), "{m:?}");
    }

    // The CLI accepts the Job's arguments with the connection strings from the environment:
    // it gets as far as connecting (exit 1), not to an argument error (exit 2).
    let out = Command::new(env!("CARGO_BIN_EXE_pgmove"))
        .args(&args)
        .env("PGMOVE_SOURCE", "postgres://app:s3cret@127.0.0.1:1/app")
        .env("PGMOVE_TARGET", "postgres://app:s3cret@127.0.0.1:1/app2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("could not connect"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn the_image_runs_as_a_non_root_user() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let user = text
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("the Dockerfile sets USER");
    let uid = user[5..].split(':').next().unwrap().trim();
    assert!(uid != "0" && uid != "root", "{user}");
    assert!(
        text.contains("ca-certificates"),
        "the image carries CA certificates"
    );
}
