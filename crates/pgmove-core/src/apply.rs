//! Appliers: send ordered items to a target server, or write them as a script for psql.
//!
//! On a server, a section runs inside one transaction: it lands whole or not at all, and the
//! first failing statement is reported with its object and SQLSTATE. As a script, the same
//! statements follow a header that sets what pg_dump's scripts set, so `psql -f` gives the same
//! result. Nothing here decides what to create; that is the renderers' and the sort's job.

use crate::render::Item;
use crate::{Error, Result};
use std::io::Write;
use tokio_postgres::Client;

/// Session settings every script and every apply connection starts with: no timeouts, UTF-8,
/// standard strings, an empty `search_path` (all names in the SQL are qualified), and no body
/// checks for functions (bodies may name objects created later, as with pg_dump).
pub const SESSION_SETUP: &str = "SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
";

/// Write `items` as a psql script (header, then each item with a comment naming it).
pub fn write_script(out: &mut dyn Write, title: &str, items: &[Item]) -> Result<()> {
    writeln!(out, "--\n-- pgmove: {title}\n--\n")?;
    out.write_all(SESSION_SETUP.as_bytes())?;
    for it in items {
        write!(out, "\n-- {}\n{}", it.name, it.sql)?;
    }
    out.flush()?;
    Ok(())
}

/// Apply `items` on `client` in one transaction. `progress` is called after each item with
/// (done, total, item name). On error the transaction is rolled back and the error names the
/// object and the statement.
pub async fn apply_in_transaction(
    client: &Client,
    items: &[Item],
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<()> {
    client
        .batch_execute(&format!("BEGIN;\n{SESSION_SETUP}"))
        .await
        .map_err(|e| Error::db(e, None, Some("BEGIN")))?;
    for (i, it) in items.iter().enumerate() {
        if let Err(e) = client.batch_execute(&it.sql).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(Error::db(e, Some(it.name.clone()), Some(&it.sql)));
        }
        progress(i + 1, items.len(), &it.name);
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| Error::db(e, None, Some("COMMIT")))?;
    Ok(())
}
