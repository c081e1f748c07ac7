//! The one error type of pgmove-core. Errors carry what a user needs to act: the server's
//! SQLSTATE, message, detail and hint, what pgmove was doing and the statement that failed, and
//! the underlying error as [`std::error::Error::source`]. They print as one line per problem.
//!
//! They never carry a password or a connection string that may hold one: an underlying error
//! whose text holds a secret is dropped rather than kept as the source. They never make up a
//! SQLSTATE: an error the server did not answer has none.

use std::fmt;
use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in a form that prints as one clear line (a list of problems, one each).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection string or option could not be understood.
    #[error("invalid connection string: {0}")]
    Config(String),
    /// The server could not be reached or refused us.
    #[error("could not connect to {target}: {message}")]
    Connect {
        /// The connection, as [`crate::conn::ConnSpec::display_safe`] shows it.
        target: String,
        /// Why, on one line, without the password.
        message: String,
        /// The client library's error, unless its text holds the password.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The server's major version is older than pgmove reads.
    #[error("server {target} runs PostgreSQL {version}; pgmove needs 9.4 or newer")]
    Unsupported { target: String, version: String },
    /// A statement failed on the server, or the connection failed under it.
    #[error(transparent)]
    Db(Box<DbError>),
    /// The target already holds objects that would be created.
    #[error("target is not empty: {0}")]
    Conflict(String),
    /// Anything the user asked for that cannot be done (bad pattern, missing roles…).
    #[error("{0}")]
    Invalid(String),
    /// DDL committed on the source during every attempt to read its catalog.
    #[error(
        "the source's schema changed while pgmove read it (DDL committed during each of {attempts} reads); \
         run again when no DDL is running on the source"
    )]
    SchemaChanged { attempts: u32 },
    /// Several things stand in the way, each one line (a preflight's findings, the schema
    /// changes found at cutover); nothing was changed.
    #[error("{context}:\n  - {}", problems.join("\n  - "))]
    Problems {
        /// What cannot go on, and that nothing was written.
        context: String,
        /// One line each.
        problems: Vec<String>,
    },
    /// A named file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing output that is not a named file (such as stdout) failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// A failed statement: the server's fields when the server answered, what pgmove was doing,
/// and the statement. Its source is the client library's error.
#[derive(Debug)]
#[non_exhaustive]
pub struct DbError {
    /// The server's SQLSTATE; `None` when the failure is not the server's answer (a
    /// connection lost, a value that could not be read).
    pub sqlstate: Option<String>,
    /// The server's message (its primary text), or the client's when the server gave none.
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// Where in the statement the server places the error: a character position, from 1.
    pub position: Option<u32>,
    /// What pgmove was doing, to finish "… while …": `creating table public.film`,
    /// `reading target settings`.
    pub doing: Option<String>,
    /// The object the statement created or changed, when it was about one (`table
    /// public.film`).
    pub object: Option<String>,
    /// The statement that failed, shortened for display.
    pub statement: Option<String>,
    source: Option<tokio_postgres::Error>,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.sqlstate {
            write!(f, " (SQLSTATE {s})")?;
        }
        if let Some(d) = &self.doing {
            write!(f, " while {d}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, "; {d}")?;
        }
        if let Some(s) = &self.statement {
            write!(f, "; statement: {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl DbError {
    fn new(e: tokio_postgres::Error, doing: Option<String>, statement: Option<&str>) -> DbError {
        let statement = statement.map(shorten);
        let mut out = match e.as_db_error() {
            Some(db) => DbError {
                sqlstate: Some(db.code().code().to_string()),
                message: db.message().to_string(),
                detail: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
                position: match db.position() {
                    Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p),
                    _ => None,
                },
                doing,
                object: None,
                statement,
                source: None,
            },
            None => DbError {
                sqlstate: None,
                message: e.to_string(),
                detail: None,
                hint: None,
                position: None,
                doing,
                object: None,
                statement,
                source: None,
            },
        };
        out.source = Some(e);
        out
    }

    /// Replace `secret` wherever the error's text holds it, and drop the source if its text
    /// does (it cannot be edited).
    fn redact(&mut self, secret: &str, shown_as: &str) {
        if secret.is_empty() {
            return;
        }
        let hide = |s: &mut String| {
            if s.contains(secret) {
                *s = s.replace(secret, shown_as);
            }
        };
        hide(&mut self.message);
        for s in [
            &mut self.detail,
            &mut self.hint,
            &mut self.statement,
            &mut self.doing,
        ]
        .into_iter()
        .flatten()
        {
            hide(s);
        }
        if self
            .source
            .as_ref()
            .is_some_and(|e| format!("{e} {e:?}").contains(secret))
        {
            self.source = None;
        }
    }
}

impl Error {
    /// Wrap a tokio-postgres error, keeping the server's fields when there are some. `doing`
    /// finishes "… while …" (`reading target settings`); `statement` is the SQL that failed.
    pub fn db(e: tokio_postgres::Error, doing: Option<String>, statement: Option<&str>) -> Error {
        Error::Db(Box::new(DbError::new(e, doing, statement)))
    }

    /// Wrap a tokio-postgres error from the statement that creates (or applies) `object`, such
    /// as `table public.film`; `doing` says what that was (`creating table public.film`).
    pub(crate) fn on_object(
        e: tokio_postgres::Error,
        object: &str,
        doing: String,
        statement: Option<&str>,
    ) -> Error {
        let mut db = DbError::new(e, Some(doing), statement);
        db.object = Some(object.to_string());
        Error::Db(Box::new(db))
    }

    /// Wrap a tokio-postgres error from the statement that creates `object`.
    pub(crate) fn creating(
        e: tokio_postgres::Error,
        object: &str,
        statement: Option<&str>,
    ) -> Error {
        Error::on_object(e, object, format!("creating {object}"), statement)
    }

    /// A file error that names its path.
    pub fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::File {
            path: path.into(),
            source,
        }
    }

    /// The SQLSTATE, for errors the server answered (on a statement or when connecting).
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Db(db) => db.sqlstate.as_deref(),
            Error::Connect {
                source: Some(s), ..
            } => s
                .downcast_ref::<tokio_postgres::Error>()
                .and_then(|e| e.code())
                .map(|c| c.code()),
            _ => None,
        }
    }

    /// The failed statement's fields, when this is one.
    pub fn as_db(&self) -> Option<&DbError> {
        match self {
            Error::Db(db) => Some(db),
            _ => None,
        }
    }

    /// Replace `secret` wherever the error's text holds it with `shown_as`, and drop an
    /// underlying error whose text holds it.
    pub(crate) fn redact(mut self, secret: &str, shown_as: &str) -> Error {
        if let Error::Db(db) = &mut self {
            db.redact(secret, shown_as);
        }
        self
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::db(e, None, None)
    }
}

/// The first line of a statement, at most 200 characters: enough to find it, not a wall of SQL.
fn shorten(s: &str) -> String {
    let line = s.trim().lines().next().unwrap_or("");
    let mut out: String = line.chars().take(200).collect();
    if out.len() < s.trim().len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
pub(crate) fn server_error(sqlstate: &str, message: &str, doing: Option<&str>) -> Error {
    Error::Db(Box::new(DbError {
        sqlstate: Some(sqlstate.into()),
        message: message.into(),
        detail: None,
        hint: None,
        position: None,
        doing: doing.map(str::to_string),
        object: None,
        statement: None,
        source: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_while_only_what_it_was_told() {
        assert_eq!(
            server_error("23514", "violates check", Some("creating table public.t")).to_string(),
            "violates check (SQLSTATE 23514) while creating table public.t"
        );
        assert_eq!(
            server_error(
                "23514",
                "violates check",
                Some("copying rows into public.t")
            )
            .to_string(),
            "violates check (SQLSTATE 23514) while copying rows into public.t"
        );
        assert_eq!(
            server_error("42501", "permission denied", None).to_string(),
            "permission denied (SQLSTATE 42501)"
        );
    }

    #[test]
    fn redacting_reaches_every_text() {
        let mut e = server_error("08001", "could not connect: password=hunter2", None);
        if let Error::Db(db) = &mut e {
            db.detail = Some("conninfo password=hunter2".into());
            db.hint = Some("hunter2".into());
            db.statement = Some("CREATE SUBSCRIPTION s CONNECTION 'password=hunter2'".into());
        }
        let e = e.redact("hunter2", "<redacted>");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn file_errors_name_the_path() {
        let e = Error::file(
            "/nowhere/out.sql",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(e.to_string().starts_with("/nowhere/out.sql: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn problems_print_one_line_each() {
        let e = Error::Problems {
            context: "cannot start".into(),
            problems: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.to_string(), "cannot start:\n  - a\n  - b");
    }
}
