//! Roles: create on a target the roles a migrated database's owners and GRANTs name, with their
//! memberships, settings and comments, but never their passwords.
//!
//! This is what `pg_dumpall --roles-only` does, without its two failures on managed servers: it
//! reads only catalogs every user may read (`pg_roles`, `pg_auth_members`,
//! `pg_db_role_setting`, `pg_shdescription`; never `pg_authid`), so a source user without
//! superuser works, and it leaves out what the target's user may not grant (`SUPERUSER`,
//! `REPLICATION`, `BYPASSRLS` for a user that is not a superuser) and the provider's own roles
//! ([`is_provider_role`]), each with one warning instead of an error.
//!
//! The layers, as elsewhere in pgmove: [`read`] fills plain structs from the source
//! ([`read_source`]) and the target ([`read_target`]); [`plan`] is pure (both in, statements
//! and a [`Report`] out); [`apply`] runs the statements in one transaction on the target, or
//! writes them as a psql script whose every statement checks the target itself.
//!
//! What it decides, in one place:
//! - A role already on the target is left as it is: its attributes, settings and comment are the
//!   target's business and are never changed. It is reported as already there.
//! - A membership is granted when both roles are on the target after the run (created now or
//!   already there) and the target has no membership of that member in that role (from any
//!   grantor); an existing one is left as it is. Memberships are granted by the target's user
//!   (the source's grantor is not kept: only a superuser could name another one).
//! - Settings and comments are written only for roles created by the run.
//! - A second run finds every role and membership there and does nothing, and says so.
//!
//! This module must never read or print a password, nor `pg_authid`.

pub mod apply;
pub mod read;
mod render;

pub use apply::{apply_in_transaction, write_script};
pub use read::{read_source, read_target};
pub use render::{plan, Guard, Plan, Statement, Unit};

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Name patterns of roles that belong to the server or its provider, never created by pgmove
/// nor granted: PostgreSQL's predefined `pg_*`; Amazon RDS and Aurora (`rds*`, e.g.
/// `rds_superuser`, `rdsadmin`, `rds_replication`); Google Cloud SQL and AlloyDB (`cloudsql*`,
/// e.g. `cloudsqlsuperuser`, `alloydb*`); Azure (`azure_*`, e.g. `azure_pg_admin`); Aiven
/// (`aiven*`); Neon (`neon_superuser`). A trailing `*` matches any rest.
pub const PROVIDER_ROLES: &[&str] = &[
    "pg_*",
    "rds*",
    "cloudsql*",
    "alloydb*",
    "azure_*",
    "aiven*",
    "neon_superuser",
];

/// Whether `name` matches one of [`PROVIDER_ROLES`].
pub fn is_provider_role(name: &str) -> bool {
    PROVIDER_ROLES.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *p,
    })
}

/// One role of the source, as `pg_roles` shows it (never its password).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
    pub inherit: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub login: bool,
    pub replication: bool,
    pub bypass_rls: bool,
    /// -1 for no limit.
    pub connection_limit: i32,
    /// `VALID UNTIL`, as an ISO 8601 UTC timestamp or `infinity`.
    pub valid_until: Option<String>,
    /// `COMMENT ON ROLE`.
    pub comment: Option<String>,
    /// `ALTER ROLE … SET`, as `name=value` (`pg_db_role_setting` for every database).
    pub settings: Vec<String>,
    /// `ALTER ROLE … IN DATABASE … SET` for the migrated database, as `name=value`.
    pub database_settings: Vec<String>,
}

/// `GRANT role TO member`, one per (role, member): the grants of several grantors (16+) are
/// merged, each option held when any grant holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Membership {
    pub role: String,
    pub member: String,
    pub admin: bool,
    /// 16+: the grant's `INHERIT` and `SET` options; `None` before 16, where the member's
    /// `INHERIT` attribute decides and membership always allows `SET ROLE`.
    pub inherit: Option<bool>,
    pub set: Option<bool>,
}

/// What [`read_source`] reads: the source cluster's roles, memberships, settings and comments.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceRoles {
    /// `server_version_num`, e.g. 150018.
    pub server_version: i32,
    /// The database being migrated (whose per-database settings are read).
    pub database: String,
    /// Every role but the predefined ones, by name.
    pub roles: Vec<Role>,
    pub memberships: Vec<Membership>,
    /// The migrated database's owner and ACL, which [`used_roles`] counts as uses.
    pub database_owner: String,
    pub database_acl: Vec<String>,
}

/// What [`read_target`] reads: who connects to the target and what it may grant, and which
/// roles, memberships and parameters the target has.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetState {
    pub server_version: i32,
    /// The target database (what `IN DATABASE` settings name).
    pub database: String,
    /// The connecting user and its attributes.
    pub user: String,
    pub superuser: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub replication: bool,
    pub bypass_rls: bool,
    /// Roles on the target, each with whether the connecting user may grant membership in it.
    pub roles: BTreeMap<String, bool>,
    /// (role, member) pairs on the target.
    pub memberships: BTreeSet<(String, String)>,
    /// Parameters the target knows, each with whether the connecting user may set it for a
    /// role; `None` when unknown (a script written without a target connection).
    pub parameters: Option<BTreeMap<String, bool>>,
    /// Not read but [`TargetState::assumed`]: what exists is left to the script's checks.
    pub assumed: bool,
}

impl TargetState {
    /// A target that is not read: a script written without a connection to the target. It is
    /// taken to run PostgreSQL `server_version` as a user with `CREATEROLE` and, unless
    /// `superuser`, nothing more (so `SUPERUSER`, `REPLICATION` and `BYPASSRLS` are left out, as
    /// on a managed server). Every role and membership is taken as absent: the script's own
    /// checks skip what exists when it runs. The database is the one psql connects to.
    pub fn assumed(server_version: i32, superuser: bool) -> TargetState {
        TargetState {
            server_version,
            superuser,
            create_role: true,
            create_db: superuser,
            assumed: true,
            ..Default::default()
        }
    }

    /// The major version, e.g. 16.
    pub fn major(&self) -> i32 {
        self.server_version / 10000
    }
}

/// What to move.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// Only the roles the migrated database uses ([`used_roles`]) instead of every role of the
    /// source cluster.
    pub only_used: bool,
}

impl Options {
    /// Every non-predefined role (`only_used` false).
    pub fn new() -> Options {
        Options::default()
    }
}

/// What a run did (or, for a script, what the script does on a target like the one planned
/// for). Serialized for `--format json`.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Source roles considered (after `only_used` and without predefined roles).
    pub considered: usize,
    /// Roles created.
    pub created: Vec<String>,
    /// Roles already on the target, left as they are.
    pub already_there: Vec<String>,
    /// Provider roles not created (see [`PROVIDER_ROLES`]).
    pub skipped: Vec<String>,
    /// Memberships granted, as `role TO member`.
    pub granted: Vec<String>,
    /// Memberships the target already had.
    pub memberships_already_there: usize,
    /// `ALTER ROLE … SET` statements (both kinds) and comments written.
    pub settings: usize,
    pub comments: usize,
    /// What was left out or changed in meaning, one line each.
    pub warnings: Vec<String>,
    /// Created roles with `LOGIN`: they have no password until one is set.
    pub need_password: Vec<String>,
}

impl Report {
    /// True when the run has nothing to create nor grant.
    pub fn nothing_to_do(&self) -> bool {
        self.created.is_empty() && self.granted.is_empty()
    }
}

/// Read the source's roles (and, for [`Options::only_used`], its database's catalog) and the
/// target's state, and plan. Without a `target` connection the plan is for
/// [`TargetState::assumed`] at the source's version, not a superuser: a script.
pub async fn prepare(
    source: &tokio_postgres::Client,
    target: Option<&tokio_postgres::Client>,
    opts: &Options,
) -> crate::Result<Plan> {
    let src = read_source(source).await?;
    let only = if opts.only_used {
        let cat = crate::catalog::read_with(
            source,
            crate::catalog::ReadOptions {
                sequence_state: false,
            },
        )
        .await?;
        Some(used_roles(&cat, &src))
    } else {
        None
    };
    let tgt = match target {
        Some(t) => read_target(t).await?,
        None => TargetState::assumed(src.server_version, false),
    };
    plan(&src, &tgt, only.as_ref())
}

/// The roles `cat` (the migrated database's model) uses: owners of its objects, grantees and
/// grantors of their ACLs (column ACLs and default privileges included), roles its policies
/// name, and the database's owner and ACL grantees (`extra`); then, through memberships, every
/// role these are members of (transitively: what their privileges come through) and every
/// role that is a member of them (transitively: who uses their privileges).
pub fn used_roles(cat: &crate::model::Catalog, src: &SourceRoles) -> BTreeSet<String> {
    use crate::render::acl_grantees;
    let mut used: BTreeSet<String> = BTreeSet::new();
    let acl = |a: &[String], used: &mut BTreeSet<String>| used.extend(acl_grantees(a));
    used.insert(src.database_owner.clone());
    acl(&src.database_acl, &mut used);
    for s in &cat.schemas {
        used.insert(s.owner.clone());
        acl(s.acl.as_deref().unwrap_or_default(), &mut used);
    }
    for t in &cat.types {
        used.insert(t.owner.clone());
        acl(t.acl.as_deref().unwrap_or_default(), &mut used);
    }
    for f in &cat.functions {
        used.insert(f.owner.clone());
        acl(f.acl.as_deref().unwrap_or_default(), &mut used);
    }
    for a in &cat.aggregates {
        used.insert(a.owner.clone());
        acl(a.acl.as_deref().unwrap_or_default(), &mut used);
    }
    for t in &cat.tables {
        used.insert(t.owner.to_string());
        acl(t.extra().acl.as_deref().unwrap_or_default(), &mut used);
        for c in &t.columns {
            acl(c.extra().acl.as_deref().unwrap_or_default(), &mut used);
        }
    }
    for v in &cat.views {
        used.insert(v.owner.to_string());
        acl(v.acl.as_deref().unwrap_or_default(), &mut used);
        for (_, a) in &v.column_acls {
            acl(a, &mut used);
        }
    }
    for s in &cat.sequences {
        used.insert(s.owner.to_string());
        acl(s.acl.as_deref().unwrap_or_default(), &mut used);
    }
    for d in &cat.default_privileges {
        used.insert(d.role.clone());
        acl(&d.acl, &mut used);
    }
    for p in &cat.policies {
        used.extend(
            p.roles
                .iter()
                .filter(|r| r.as_str() != "PUBLIC")
                .map(|r| unquote_ident(r)),
        );
    }
    used.remove("");
    // Up (groups whose privileges the used roles hold) and down (members holding the used
    // roles' privileges), each transitively, from the used roles only.
    let mut out = used.clone();
    for up in [true, false] {
        let mut frontier: Vec<String> = used.iter().cloned().collect();
        let mut seen = used.clone();
        while let Some(r) = frontier.pop() {
            for m in &src.memberships {
                let (from, to) = if up {
                    (&m.member, &m.role)
                } else {
                    (&m.role, &m.member)
                };
                if *from == r && seen.insert(to.clone()) {
                    frontier.push(to.clone());
                }
            }
        }
        out.extend(seen);
    }
    out
}

/// Undo `quote_ident`: the name the server's lexer reads.
fn unquote_ident(q: &str) -> String {
    match q.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => q.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_roles() {
        for p in [
            "pg_monitor",
            "rds_superuser",
            "rdsadmin",
            "cloudsqlsuperuser",
            "cloudsqladmin",
            "azure_pg_admin",
            "aiven_extras_admin",
            "neon_superuser",
        ] {
            assert!(is_provider_role(p), "{p}");
        }
        for r in ["app", "postgres", "azure", "neon_superuser2", "Rds_x"] {
            assert!(!is_provider_role(r), "{r}");
        }
    }

    #[test]
    fn used_roles_follow_owners_acls_and_memberships_both_ways() {
        use crate::model::*;
        let mut cat = Catalog::default();
        cat.schemas.push(Schema {
            oid: 1,
            name: "app".into(),
            acl: Some(vec!["owner=UC/owner".into(), "\"Read Er\"=U/owner".into()]),
            owner: "owner".into(),
        });
        cat.policies.push(Policy {
            oid: 2,
            table_oid: 3,
            name: "p".into(),
            permissive: true,
            command: '*',
            roles: vec!["PUBLIC".into(), "\"Pol\"\"icy\"".into()],
            using: None,
            with_check: None,
        });
        let m = |role: &str, member: &str| Membership {
            role: role.into(),
            member: member.into(),
            admin: false,
            inherit: None,
            set: None,
        };
        let src = SourceRoles {
            database_owner: "dbo".into(),
            memberships: vec![
                m("group", "Read Er"),
                m("top", "group"),
                m("Read Er", "login1"),
                m("unrelated_group_of_member", "login1"),
                m("elsewhere", "nobody_here"),
            ],
            ..Default::default()
        };
        let used = used_roles(&cat, &src);
        let want: BTreeSet<String> = [
            "owner", "Read Er", "Pol\"icy", "dbo", "group", "top", "login1",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(used, want);
    }
}
