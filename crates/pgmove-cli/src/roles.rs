//! `pgmove roles`: its arguments and its report, as text or JSON. What is read, planned and
//! created is `pgmove_core::roles`; this file only parses, connects, prints and writes.

use clap::{Args, ValueEnum};
use pgmove_core::conn::{self, ConnSpec};
use pgmove_core::roles::{self, Report};
use std::io::Write;

pub const AFTER_HELP: &str = "EXAMPLES:
  pgmove roles --source postgres://admin@old/app --target postgres://admin@new/app
  pgmove roles --source \"$SRC\" --target \"$DST\" --only-used --format json > roles.json
  pgmove roles --source \"$SRC\" -o roles.sql && psql -v ON_ERROR_STOP=1 -d app -f roles.sql

Creates on the target the source cluster's roles (every one but the predefined pg_* roles, or
with --only-used those the database's owners, privileges, policies and their memberships name),
with LOGIN, INHERIT, CREATEDB, CREATEROLE, CONNECTION LIMIT, VALID UNTIL, memberships (ADMIN,
and INHERIT/SET on 16+), settings (also those IN DATABASE for this database) and comments, in
one transaction. Reads only pg_roles, pg_auth_members, pg_db_role_setting and pg_shdescription,
so the source user needs no superuser (RDS works); --only-used also reads the database's
catalog, as the other steps do.

Never copied: passwords (LOGIN roles are listed at the end, to be given one with psql's
\\password), attributes the target user may not grant (SUPERUSER, REPLICATION, BYPASSRLS on a
managed server) and provider roles (rds*, pg_*, cloudsql*, alloydb*, azure_*, aiven*,
neon_superuser): each left out with a warning. Roles already on the target are left as they
are; missing memberships between roles that are there are granted. Safe to run again: a
second run does nothing and says so.

With -o FILE (or without --target) the SQL is written for psql instead: every statement checks
the target when it runs (DO blocks), so the script too can run twice. Without --target it
assumes a target of the source's version whose user is not a superuser; give --target as well
to plan for the real one.

EXIT STATUS:
  0 done (or nothing to do), 1 failed (nothing is left half-created), 2 bad arguments.";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct RolesArgs {
    /// The database whose cluster's roles are read (URI or key=value; see CONNECTIONS below).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    source: String,
    /// The database to create the roles for (IN DATABASE settings name it).
    #[arg(long, value_name = "CONN", env = "PGMOVE_TARGET")]
    target: Option<String>,
    /// Write SQL to this file instead of applying it (`-` is stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<String>,
    /// Only the roles the source database uses (owners, grantees, policies, their memberships).
    #[arg(long)]
    only_used: bool,
    /// Report as text for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print only warnings (and the JSON report with --format json).
    #[arg(short, long)]
    quiet: bool,
}

/// Read, plan, then apply or write; print the report.
pub async fn run(a: RolesArgs) -> pgmove_core::Result<()> {
    let source_spec: ConnSpec = a.source.parse()?;
    let target_spec: Option<ConnSpec> = a.target.as_deref().map(str::parse).transpose()?;
    let source = conn::connect(&source_spec).await?;
    let target = match &target_spec {
        Some(t) => Some(conn::connect(t).await?),
        None => None,
    };
    let mut opts = roles::Options::new();
    opts.only_used = a.only_used;
    let plan = roles::prepare(&source, target.as_ref(), &opts).await?;
    drop(source);
    for w in &plan.report.warnings {
        tracing::warn!("{w}");
    }
    let script_to_stdout = target.is_none() && matches!(a.output.as_deref(), None | Some("-"))
        || a.output.as_deref() == Some("-");
    let (applied_to, written_to) = match (&target, a.output.as_deref()) {
        (Some(t), None) => {
            roles::apply_in_transaction(t, &plan).await?;
            (target_spec.as_ref().map(ConnSpec::display_safe), None)
        }
        (_, out) => {
            let mut w: Box<dyn Write> = match out {
                None | Some("-") => Box::new(std::io::stdout().lock()),
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| pgmove_core::Error::file(path, e))?,
                )),
            };
            roles::write_script(
                &mut w,
                &format!("roles of {}", source_spec.display_safe()),
                &plan,
            )
            .map_err(|e| crate::named_file(e, out))?;
            (None, out.filter(|o| *o != "-").map(str::to_string))
        }
    };
    let report = match a.format {
        Format::Json => serde_json::to_string_pretty(&plan.report).unwrap_or_default(),
        Format::Text if a.quiet => return Ok(()),
        Format::Text => text(
            &plan.report,
            applied_to.as_deref(),
            written_to.as_deref(),
            target_spec.as_ref(),
        ),
    };
    if script_to_stdout {
        eprintln!("{report}");
    } else {
        println!("{report}");
    }
    Ok(())
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    }
}

fn text(r: &Report, applied: Option<&str>, written: Option<&str>, t: Option<&ConnSpec>) -> String {
    let whom = match (applied, written) {
        (Some(t), _) => format!("roles on {t}"),
        (None, Some(f)) => format!("roles script {f}"),
        (None, None) => "roles script".to_string(),
    };
    if r.nothing_to_do() {
        return format!(
            "pgmove: {whom}: nothing to do: {} role(s) and {} membership(s) already there{}",
            r.already_there.len(),
            r.memberships_already_there,
            if r.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} provider role(s) skipped", r.skipped.len())
            }
        );
    }
    let verb = if applied.is_some() { "" } else { "to be " };
    let mut out = format!(
        "pgmove: {whom}: {} role(s) {verb}created{}, {} already there{}, {} skipped{}; \
         {} membership(s) {verb}granted, {} already there; {} setting(s), {} comment(s)",
        r.created.len(),
        list(&r.created),
        r.already_there.len(),
        list(&r.already_there),
        r.skipped.len(),
        list(&r.skipped),
        r.granted.len(),
        r.memberships_already_there,
        r.settings,
        r.comments,
    );
    if !r.need_password.is_empty() {
        let db = t
            .map(|t| {
                format!(
                    "-h {} -p {} -U {} -d {} ",
                    sh(t.host()),
                    t.port(),
                    sh(t.user()),
                    sh(t.dbname())
                )
            })
            .unwrap_or_default();
        out += &format!(
            "\n{} LOGIN role(s) {verb}created without a password; give each one with psql's \\password \
             (it sends only a hash), or ALTER ROLE … PASSWORD:",
            r.need_password.len()
        );
        for n in &r.need_password {
            out += &format!(
                "\n  psql {db}-c {}",
                sh(&format!("\\password {}", pgmove_core::quote::ident(n)))
            );
        }
    }
    out
}

/// `s` as one shell word (single-quoted when it needs it).
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
