//! Run a roles [`Plan`] on the target in one transaction, or write it as a psql script.
//!
//! The script does not trust the plan's view of the target: each unit is a `DO` block that
//! checks its [`Guard`] on the server it runs on (the role is absent; both roles exist and the
//! membership is absent) and runs its statements through `EXECUTE` only then, so running the
//! script twice, or on a target that already has some of the roles, skips what is there. A
//! plain SQL file cannot branch otherwise without psql's `\if`, which other clients lack. The
//! script runs in one transaction (`BEGIN` … `COMMIT`) and `IN DATABASE` settings name the
//! database psql is connected to.

use super::{Guard, Plan, Statement};
use crate::apply::SESSION_SETUP;
use crate::quote::{dollar, literal};
use crate::{Error, Result};
use std::io::Write;
use tokio_postgres::Client;

/// What applying a unit named `name` (`role app`, `membership of app_user in app`) does.
fn doing(name: &str) -> String {
    if name.starts_with("role ") {
        format!("creating {name}")
    } else {
        format!("granting {name}")
    }
}

/// Apply `plan` on `client` in one transaction: all of it or, on the first failing statement,
/// none of it (the error names the role or membership and the statement).
pub async fn apply_in_transaction(client: &Client, plan: &Plan) -> Result<()> {
    if plan.units.is_empty() {
        return Ok(());
    }
    let database = plan.database.as_deref().ok_or_else(|| {
        Error::Invalid(
            "this roles plan was made without reading the target; write it as a script".into(),
        )
    })?;
    client
        .batch_execute(&format!("BEGIN;\n{SESSION_SETUP}"))
        .await
        .map_err(|e| Error::db(e, None, Some("BEGIN")))?;
    for u in &plan.units {
        for s in &u.statements {
            let sql = s.sql(database);
            if let Err(e) = client.batch_execute(&sql).await {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(Error::on_object(e, &u.name, doing(&u.name), Some(&sql)));
            }
        }
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| Error::db(e, None, Some("COMMIT")))?;
    Ok(())
}

/// The PL/pgSQL condition under which a guarded unit runs.
fn condition(g: &Guard) -> String {
    let role = |n: &str| {
        format!(
            "EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {})",
            literal(n)
        )
    };
    match g {
        Guard::RoleAbsent(r) => format!("NOT {}", role(r)),
        Guard::MembershipAbsent { role: r, member } => [
            role(r),
            format!("       AND {}", role(member)),
            "       AND NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members a".to_string(),
            "                         JOIN pg_catalog.pg_roles r ON r.oid = a.roleid".to_string(),
            "                         JOIN pg_catalog.pg_roles m ON m.oid = a.member".to_string(),
            format!(
                "                        WHERE r.rolname = {} AND m.rolname = {})",
                literal(r),
                literal(member)
            ),
        ]
        .join("\n"),
    }
}

/// Write `plan` as a psql script (`psql -v ON_ERROR_STOP=1 -f FILE`): the session header, then
/// one `DO` block per unit inside one transaction. Passwords are never part of a plan.
pub fn write_script(out: &mut dyn Write, title: &str, plan: &Plan) -> Result<()> {
    writeln!(out, "--\n-- pgmove: {title}\n--\n")?;
    out.write_all(SESSION_SETUP.as_bytes())?;
    writeln!(out, "\nBEGIN;")?;
    for u in &plan.units {
        let mut body = format!("\nBEGIN\n    IF {} THEN\n", condition(&u.guard));
        for s in &u.statements {
            let exec = match s {
                Statement::Sql(sql) => literal(sql.trim_end()),
                Statement::InDatabase { head, tail } => format!(
                    "{} || pg_catalog.quote_ident(pg_catalog.current_database()) || {}",
                    literal(head),
                    literal(tail.trim_end())
                ),
            };
            body.push_str(&format!("        EXECUTE {exec};\n"));
        }
        body.push_str("    END IF;\nEND\n");
        writeln!(out, "\n-- {}\nDO {};", u.name, dollar(&body))?;
    }
    writeln!(out, "\nCOMMIT;")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::{Report, Unit};

    #[test]
    fn script_guards_every_unit_and_names_the_connected_database() {
        let plan = Plan {
            units: vec![
                Unit {
                    name: "role a$$b".into(),
                    guard: Guard::RoleAbsent("a$$b".into()),
                    statements: vec![
                        Statement::Sql("CREATE ROLE \"a$$b\";\n".into()),
                        Statement::InDatabase {
                            head: "ALTER ROLE \"a$$b\" IN DATABASE ".into(),
                            tail: " SET work_mem TO '1MB';\n".into(),
                        },
                    ],
                },
                Unit {
                    name: "membership of a$$b in g".into(),
                    guard: Guard::MembershipAbsent {
                        role: "g".into(),
                        member: "a$$b".into(),
                    },
                    statements: vec![Statement::Sql("GRANT g TO \"a$$b\";\n".into())],
                },
            ],
            report: Report::default(),
            database: None,
        };
        let mut out = Vec::new();
        write_script(&mut out, "t", &plan).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("\nBEGIN;\n") && s.ends_with("\nCOMMIT;\n"),
            "{s}"
        );
        assert!(s.contains(
            "DO $_1$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'a$$b') THEN\n\
             \x20       EXECUTE 'CREATE ROLE \"a$$b\";';\n\
             \x20       EXECUTE 'ALTER ROLE \"a$$b\" IN DATABASE ' || pg_catalog.quote_ident(pg_catalog.current_database()) || ' SET work_mem TO ''1MB'';';\n\
             \x20   END IF;\nEND\n$_1$;"
        ), "{s}");
        assert!(
            s.contains("WHERE r.rolname = 'g' AND m.rolname = 'a$$b')"),
            "{s}"
        );
        assert_eq!(
            plan.units[0].statements[1].sql("New"),
            "ALTER ROLE \"a$$b\" IN DATABASE \"New\" SET work_mem TO '1MB';\n"
        );
    }
}
