//! Connections: libpq-compatible connection strings, PG* environment variables, `.pgpass` and TLS.
//!
//! PLACEHOLDER: plain tokio-postgres parsing without TLS until the full layer lands.

use crate::{Error, Result};

/// Connect with a libpq-style connection string, spawning the connection task on tokio.
pub async fn connect(conninfo: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::Connect {
            target: "server".into(),
            message: e.to_string(),
        })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}
