//! One error type; every error prints as one clear line. pgmove-core's errors are kept whole
//! (as [`Error::Core`] or [`Error::Source`], and as the source), never turned into text.
//!
//! AWS errors are sorted into classes a user can act on ([`AwsErrorKind`]): no credentials,
//! access denied, throttled (already retried with backoff by the SDK's standard retry mode, see
//! [`crate::client::retry_config`]), not found, unreachable, and the rest with DMS's own code.

use aws_sdk_databasemigration::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::fmt;
use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting to the source or reading it failed.
    #[error("source: {0}")]
    Source(#[source] pgmove_core::Error),
    /// The config file or plan directory is unusable.
    #[error("config: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An AWS call failed.
    #[error("{0}")]
    Aws(AwsError),
    /// A wait ran out of time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// DMS reports a state pgmove cannot go on from (task failed, connection test failed...).
    #[error("{0}")]
    State(String),
    /// A pgmove step on the servers failed (schema, post-data, sequences, validation).
    #[error(transparent)]
    Core(#[from] pgmove_core::Error),
}

/// The classes of AWS failure, each with its own advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// No credentials could be found by the credential chain.
    NoCredentials,
    /// The credentials are valid but not allowed (or are expired/invalid).
    AccessDenied,
    /// Throttled on every attempt the retry policy allowed.
    Throttled,
    /// The resource does not exist.
    NotFound,
    /// The resource exists already.
    AlreadyExists,
    /// The resource is in a state that does not allow the call (e.g. stopping a stopped task).
    InvalidState,
    /// The endpoint could not be reached (DNS, connection refused, timeout).
    Unreachable,
    /// Anything else DMS answered.
    Service,
}

/// An AWS failure: the operation, the class and the service's own code and message.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub operation: &'static str,
    pub kind: AwsErrorKind,
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.operation;
        let msg = self.message.replace('\n', " ");
        match self.kind {
            AwsErrorKind::NoCredentials => write!(
                f,
                "AWS {op}: no credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or run on a role)"
            ),
            AwsErrorKind::AccessDenied => write!(
                f,
                "AWS {op}: access denied ({}): {msg}",
                self.code.as_deref().unwrap_or("AccessDenied")
            ),
            AwsErrorKind::Throttled => write!(
                f,
                "AWS {op}: still throttled after retrying with backoff; try again later: {msg}"
            ),
            AwsErrorKind::Unreachable => {
                write!(f, "AWS {op}: could not reach the DMS endpoint: {msg}")
            }
            _ => match &self.code {
                Some(code) => write!(f, "AWS {op}: {code}: {msg}"),
                None => write!(f, "AWS {op}: {msg}"),
            },
        }
    }
}

impl Error {
    /// A file error that names its path.
    pub fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::File {
            path: path.into(),
            source,
        }
    }

    /// The pgmove-core error inside, when there is one.
    pub fn core(&self) -> Option<&pgmove_core::Error> {
        match self {
            Error::Core(e) | Error::Source(e) => Some(e),
            _ => None,
        }
    }

    /// The AWS error class, when this is an AWS error.
    pub fn aws_kind(&self) -> Option<AwsErrorKind> {
        match self {
            Error::Aws(a) => Some(a.kind),
            _ => None,
        }
    }
}

const ACCESS_DENIED: &[&str] = &[
    "AccessDeniedFault",
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];

const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

/// Sort an SDK error into an [`Error`] for `operation` (e.g. `"DescribeReplicationTasks"`).
pub fn aws<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let chain = DisplayErrorContext(&err).to_string();
    let http_status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, code, message) = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().map(str::to_string);
            let message = e.message().unwrap_or("").to_string();
            let kind = match code.as_deref() {
                Some(c) if ACCESS_DENIED.contains(&c) => AwsErrorKind::AccessDenied,
                Some(c) if THROTTLED.contains(&c) => AwsErrorKind::Throttled,
                Some("ResourceNotFoundFault") => AwsErrorKind::NotFound,
                Some("ResourceAlreadyExistsFault") => AwsErrorKind::AlreadyExists,
                Some("InvalidResourceStateFault") => AwsErrorKind::InvalidState,
                _ if http_status == Some(403) => AwsErrorKind::AccessDenied,
                _ if http_status == Some(429) => AwsErrorKind::Throttled,
                _ => AwsErrorKind::Service,
            };
            let message = if message.is_empty() {
                last_cause(&chain)
            } else {
                message
            };
            (kind, code, message)
        }
        _ if mentions_credentials(&chain) => {
            (AwsErrorKind::NoCredentials, None, last_cause(&chain))
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            (AwsErrorKind::Unreachable, None, last_cause(&chain))
        }
        _ => (AwsErrorKind::Service, None, last_cause(&chain)),
    };
    Error::Aws(AwsError {
        operation,
        kind,
        code,
        message,
    })
}

fn mentions_credentials(chain: &str) -> bool {
    let c = chain.to_ascii_lowercase();
    c.contains("credentials") || c.contains("no matching auth scheme")
}

/// `DisplayErrorContext` prints `outer: inner: innermost (Debug)`; keep the readable part.
fn last_cause(chain: &str) -> String {
    let text = chain.split(" (").next().unwrap_or(chain);
    text.trim().to_string()
}

/// `SdkError` helpers for the describe-before-create pattern.
pub(crate) trait SdkErrorExt {
    fn is_not_found(&self) -> bool;
}

impl<E: ProvideErrorMetadata, R> SdkErrorExt for SdkError<E, R> {
    fn is_not_found(&self) -> bool {
        matches!(self, SdkError::ServiceError(se) if se.err().code() == Some("ResourceNotFoundFault"))
    }
}
