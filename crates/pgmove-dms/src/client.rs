//! The DMS client from the standard AWS configuration: the default credential chain
//! (environment, shared config and credentials files, `credential_process`, web identity, ECS,
//! EC2 instance metadata), region and profile (`AWS_REGION`, `AWS_PROFILE` or the config file's
//! `[aws]`), and the endpoint: `AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE`,
//! `AWS_ENDPOINT_URL`, or `--endpoint-url` / `aws.endpoint_url`, which wins.
//!
//! Retries: the SDK's standard mode with exponential backoff and jitter; throttling errors are
//! retried like transient ones, up to `max_attempts` (default [`DEFAULT_MAX_ATTEMPTS`]).

use crate::config::AwsSettings;
use crate::{Error, Result};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_databasemigration::Client;
use std::time::Duration;

/// Attempts per call when neither the config nor `AWS_MAX_ATTEMPTS` says.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Standard retry mode: `max_attempts` tries, backoff starting at `initial_backoff`, doubling
/// with jitter, capped at 20 s.
pub fn retry_config(max_attempts: u32, initial_backoff: Duration) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(initial_backoff)
        .with_max_backoff(Duration::from_secs(20))
}

/// The HTTPS client every call goes through: hyper with rustls on ring (the SDK's default
/// client would build aws-lc, minutes of C, for a second crypto library). Roots are the
/// system's, loaded when the client is first used.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Build a DMS client. `settings` overrides what the environment and profile say.
pub async fn build(settings: &AwsSettings) -> Result<Client> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p);
    }
    if let Some(u) = &settings.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    let attempts = settings
        .max_attempts
        .or_else(|| {
            std::env::var("AWS_MAX_ATTEMPTS")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(DEFAULT_MAX_ATTEMPTS);
    loader = loader
        .retry_config(retry_config(attempts, Duration::from_millis(500)))
        .http_client(https_client());
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(Error::Config(
            "no AWS region: set AWS_REGION, a region in the profile, or aws.region".into(),
        ));
    }
    Ok(Client::new(&sdk))
}
