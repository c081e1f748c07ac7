//! No credentials anywhere: the error is one clear line naming the fix, and nothing is sent.
//! One test per binary: it sets the process's AWS environment.
use pgmove_dms::config::AwsSettings;
use pgmove_dms::error::AwsErrorKind;
use pgmove_dms::{client, lifecycle};

#[tokio::test]
async fn no_credentials_is_one_clear_line() {
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(k);
    }
    // No instance metadata (never leave the machine), no config files.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/pgmove-test/config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/pgmove-test/credentials",
    );
    let settings = AwsSettings {
        region: Some("eu-west-2".into()),
        // A closed loopback port: if a request were sent, it would fail differently.
        endpoint_url: Some("http://127.0.0.1:9".into()),
        max_attempts: Some(1),
        ..Default::default()
    };
    let c = client::build(&settings).await.unwrap();
    let e = lifecycle::status_with(&c, "test-task").await.unwrap_err();
    let s = e.to_string();
    println!("{s}");
    assert_eq!(e.aws_kind(), Some(AwsErrorKind::NoCredentials), "{s}");
    assert!(!s.contains('\n'), "{s}");
    assert!(
        s.contains("no credentials found") && s.contains("AWS_PROFILE"),
        "{s}"
    );
}
