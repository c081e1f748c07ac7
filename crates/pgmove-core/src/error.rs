//! The one error type of pgmove-core. Errors carry what a user needs to act: the server's
//! SQLSTATE and message, the object and the statement that failed. They never carry a password.

use std::fmt;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in a form that prints as one clear line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A connection string or option could not be understood.
    #[error("invalid connection string: {0}")]
    Config(String),
    /// The server could not be reached or refused us.
    #[error("could not connect to {target}: {message}")]
    Connect { target: String, message: String },
    /// The server's major version is older than pgmove reads.
    #[error("server {target} runs PostgreSQL {version}; pgmove needs 9.4 or newer")]
    Unsupported { target: String, version: String },
    /// A statement failed on the server.
    #[error("{}", DbDisplay(self))]
    Db {
        sqlstate: String,
        message: String,
        detail: Option<String>,
        /// The object the statement was about, when known (e.g. `table public.film`).
        object: Option<String>,
        /// The statement that failed, shortened for display.
        statement: Option<String>,
    },
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
    /// What must be fixed before any row is copied (`data`): one line each.
    #[error("{}", .0.join("\n"))]
    Preflight(Vec<String>),
    /// Several things stand in the way, each one line (a preflight's findings, the schema
    /// changes found at cutover); nothing was changed.
    #[error("{context}:\n  - {}", problems.join("\n  - "))]
    Problems {
        context: String,
        problems: Vec<String>,
    },
    /// Writing output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

struct DbDisplay<'a>(&'a Error);
impl fmt::Display for DbDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Error::Db {
            sqlstate,
            message,
            detail,
            object,
            statement,
        } = self.0
        {
            write!(f, "{message} (SQLSTATE {sqlstate})")?;
            if let Some(o) = object {
                // An object named by what was being done ("copying rows into …") reads as is.
                let doing = o
                    .split(' ')
                    .next()
                    .is_some_and(|w| w.len() > 4 && w.ends_with("ing"));
                if doing {
                    write!(f, " while {o}")?;
                } else {
                    write!(f, " while creating {o}")?;
                }
            }
            if let Some(d) = detail {
                write!(f, "; {d}")?;
            }
            if let Some(s) = statement {
                write!(f, "; statement: {s}")?;
            }
        }
        Ok(())
    }
}

impl Error {
    /// Wrap a tokio-postgres error, keeping the server's fields when there are some.
    pub fn db(e: tokio_postgres::Error, object: Option<String>, statement: Option<&str>) -> Error {
        let statement = statement.map(shorten);
        match e.as_db_error() {
            Some(db) => Error::Db {
                sqlstate: db.code().code().to_string(),
                message: db.message().to_string(),
                detail: db.detail().map(str::to_string),
                object,
                statement,
            },
            None => Error::Db {
                sqlstate: "08000".into(),
                message: e.to_string(),
                detail: None,
                object,
                statement,
            },
        }
    }

    /// The SQLSTATE, for errors from the server.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Db { sqlstate, .. } => Some(sqlstate),
            _ => None,
        }
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
mod tests {
    use super::*;

    fn db(object: &str) -> Error {
        Error::Db {
            sqlstate: "23514".into(),
            message: "violates check".into(),
            detail: None,
            object: Some(object.into()),
            statement: None,
        }
    }

    #[test]
    fn the_object_reads_as_what_was_done() {
        assert_eq!(
            db("table public.t").to_string(),
            "violates check (SQLSTATE 23514) while creating table public.t"
        );
        assert_eq!(
            db("copying rows into public.t").to_string(),
            "violates check (SQLSTATE 23514) while copying rows into public.t"
        );
    }
}
