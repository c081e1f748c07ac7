//! The roles plan: pure, source and target state in, statements and a report out. It decides
//! what is created, granted, left out or left as it is (see [`super`]), and writes the SQL
//! through [`crate::quote`]. Never queries.

use super::{is_provider_role, Membership, Report, Role, SourceRoles, TargetState};
use crate::quote::{ident, literal};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeSet;

/// When a [`Unit`] applies: what a script checks on the target before running it (a direct
/// apply has checked it when planning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Guard {
    /// The role does not exist.
    RoleAbsent(String),
    /// Both roles exist and `member` has no membership in `role`.
    MembershipAbsent { role: String, member: String },
}

/// One statement of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Statement {
    /// SQL that runs as it is.
    Sql(String),
    /// `head` + the target database's quoted name + `tail`: `ALTER ROLE … IN DATABASE … SET`,
    /// whose database is known only on the target (a script names `current_database()`).
    InDatabase { head: String, tail: String },
}

impl Statement {
    /// The statement for a target database named `database`.
    pub fn sql(&self, database: &str) -> String {
        match self {
            Statement::Sql(s) => s.clone(),
            Statement::InDatabase { head, tail } => format!("{head}{}{tail}", ident(database)),
        }
    }
}

/// Statements that run together, under one [`Guard`]: a role with its comment and settings,
/// or one membership.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// `role app` or `membership of app_user in app`, for errors and scripts.
    pub name: String,
    pub guard: Guard,
    pub statements: Vec<Statement>,
}

/// What [`plan`] decided: the units, in order (roles, then memberships), and the report.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub units: Vec<Unit>,
    pub report: Report,
    /// The target database when the target was read (`None` for an assumed target).
    pub database: Option<String>,
}

/// GUCs whose value is a list of names, stored quoted as identifiers (pg_dump's
/// `variable_is_guc_list_quote`): each element is written as its own literal.
const LIST_PARAMETERS: &[&str] = &[
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// Split a stored list value (`"$user", public`) into its elements.
fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        item.push('"');
                        chars.next();
                    } else {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                item.push(c);
                chars.next();
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        out.push(item);
        if chars.next() != Some(',') {
            break;
        }
    }
    out
}

/// `SET name TO value` for a stored `name=value`, or `None` when it has no `=`.
fn set_clause(setting: &str) -> Option<(String, String)> {
    let (name, value) = setting.split_once('=')?;
    let value = if LIST_PARAMETERS.contains(&name) {
        if value.is_empty() {
            "''".to_string()
        } else {
            split_list(value)
                .iter()
                .map(|v| literal(v))
                .collect::<Vec<_>>()
                .join(", ")
        }
    } else {
        literal(value)
    };
    Some((name.to_string(), format!("SET {} TO {value}", ident(name))))
}

/// `CREATE ROLE` with the attributes the target's user may give; what it may not is named in
/// `left_out`.
fn create_role(r: &Role, t: &TargetState, left_out: &mut Vec<&'static str>) -> String {
    let v16 = t.major() >= 16;
    let mut attrs: Vec<String> = Vec::new();
    let mut want = |on: bool, may: bool, word: &'static str, attrs: &mut Vec<String>| {
        if on {
            if may {
                attrs.push(word.to_string());
            } else {
                left_out.push(word);
            }
        }
    };
    want(r.superuser, t.superuser, "SUPERUSER", &mut attrs);
    want(r.login, true, "LOGIN", &mut attrs);
    if !r.inherit {
        attrs.push("NOINHERIT".into());
    }
    // Before 16 CREATEROLE lets a user give CREATEDB and CREATEROLE; from 16 on a user gives
    // CREATEDB, REPLICATION and BYPASSRLS only when it has them itself.
    want(
        r.create_db,
        t.superuser || !v16 || t.create_db,
        "CREATEDB",
        &mut attrs,
    );
    want(r.create_role, true, "CREATEROLE", &mut attrs);
    want(
        r.replication,
        t.superuser || (v16 && t.replication),
        "REPLICATION",
        &mut attrs,
    );
    want(
        r.bypass_rls,
        t.superuser || (v16 && t.bypass_rls),
        "BYPASSRLS",
        &mut attrs,
    );
    if r.connection_limit != -1 {
        attrs.push(format!("CONNECTION LIMIT {}", r.connection_limit));
    }
    if let Some(v) = &r.valid_until {
        attrs.push(format!("VALID UNTIL {}", literal(v)));
    }
    let mut sql = format!("CREATE ROLE {}", ident(&r.name));
    if !attrs.is_empty() {
        sql.push_str(" WITH ");
        sql.push_str(&attrs.join(" "));
    }
    sql.push_str(";\n");
    sql
}

/// Whether the target lets a role setting named `name` be written; a warning when not.
fn setting_allowed(t: &TargetState, role: &str, name: &str) -> Option<String> {
    let params = t.parameters.as_ref()?;
    // A dotted name is a custom placeholder (an extension's), which any server accepts.
    if name.contains('.') {
        return None;
    }
    match params.get(name) {
        Some(true) => None,
        Some(false) => Some(format!(
            "setting {name} of role {role} left out: the target user {} may not set it for a role",
            t.user
        )),
        None => Some(format!(
            "setting {name} of role {role} left out: the target server has no parameter {name}"
        )),
    }
}

/// `GRANT role TO member` with the options both servers can express; warnings when the
/// target cannot express the source's.
///
/// Source 16+ to target 16+: ADMIN, INHERIT and SET as on the source. Source before 16 to
/// target 16+: INHERIT as the member's INHERIT attribute (what decided inheritance before 16)
/// and SET TRUE (membership always allowed SET ROLE). Source 16+ to target before 16: only
/// ADMIN; the member's INHERIT attribute decides inheritance and SET ROLE is always allowed,
/// so a grant whose INHERIT differs from that attribute, or with SET FALSE, is granted with a
/// warning saying what it allows beyond the source.
fn grant(m: &Membership, member: Option<&Role>, t: &TargetState, warn: &mut Vec<String>) -> String {
    let member_inherit = member.is_none_or(|r| r.inherit);
    let mut opts: Vec<String> = Vec::new();
    if m.admin {
        opts.push("ADMIN OPTION".into());
    }
    if t.major() >= 16 {
        let inherit = m.inherit.unwrap_or(member_inherit);
        let set = m.set.unwrap_or(true);
        opts.push(format!(
            "INHERIT {}",
            if inherit { "TRUE" } else { "FALSE" }
        ));
        opts.push(format!("SET {}", if set { "TRUE" } else { "FALSE" }));
    } else {
        if m.inherit.is_some_and(|i| i != member_inherit) {
            warn.push(format!(
                "membership of {} in {}: its INHERIT {} cannot be expressed before PostgreSQL 16; \
                 the member's {} attribute decides on the target",
                m.member,
                m.role,
                if m.inherit == Some(true) {
                    "TRUE"
                } else {
                    "FALSE"
                },
                if member_inherit {
                    "INHERIT"
                } else {
                    "NOINHERIT"
                },
            ));
        }
        if m.set == Some(false) {
            warn.push(format!(
                "membership of {} in {}: SET FALSE cannot be expressed before PostgreSQL 16; \
                 on the target {} can SET ROLE {}",
                m.member, m.role, m.member, m.role
            ));
        }
    }
    let mut sql = format!("GRANT {} TO {}", ident(&m.role), ident(&m.member));
    if !opts.is_empty() {
        sql.push_str(" WITH ");
        sql.push_str(&opts.join(", "));
    }
    sql.push_str(";\n");
    sql
}

/// Plan the roles of `src` (only those in `only` when given) for target `t`. Fails, before
/// anything is written, only when roles must be created and the target's user may not create
/// roles.
pub fn plan(src: &SourceRoles, t: &TargetState, only: Option<&BTreeSet<String>>) -> Result<Plan> {
    let mut report = Report::default();
    let mut units = Vec::new();
    let selected: Vec<&Role> = src
        .roles
        .iter()
        .filter(|r| only.is_none_or(|o| o.contains(&r.name)))
        .collect();
    report.considered = selected.len();
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for r in &selected {
        if is_provider_role(&r.name) {
            report.skipped.push(r.name.clone());
            report.warnings.push(format!(
                "role {} not created: a server or provider role (see PROVIDER_ROLES)",
                r.name
            ));
            continue;
        }
        if t.roles.contains_key(&r.name) {
            report.already_there.push(r.name.clone());
            continue;
        }
        let mut left_out = Vec::new();
        let mut statements = vec![Statement::Sql(create_role(r, t, &mut left_out))];
        if !left_out.is_empty() {
            report.warnings.push(format!(
                "role {}: {} left out: the target user {} may not grant {}",
                r.name,
                left_out.join(", "),
                if t.assumed {
                    "(assumed not a superuser)"
                } else {
                    &t.user
                },
                if left_out.len() == 1 { "it" } else { "them" }
            ));
        }
        if let Some(c) = &r.comment {
            statements.push(Statement::Sql(format!(
                "COMMENT ON ROLE {} IS {};\n",
                ident(&r.name),
                literal(c)
            )));
            report.comments += 1;
        }
        for (s, in_db) in r
            .settings
            .iter()
            .map(|s| (s, false))
            .chain(r.database_settings.iter().map(|s| (s, true)))
        {
            let Some((name, clause)) = set_clause(s) else {
                continue;
            };
            if let Some(w) = setting_allowed(t, &r.name, &name) {
                report.warnings.push(w);
                continue;
            }
            report.settings += 1;
            statements.push(if in_db {
                Statement::InDatabase {
                    head: format!("ALTER ROLE {} IN DATABASE ", ident(&r.name)),
                    tail: format!(" {clause};\n"),
                }
            } else {
                Statement::Sql(format!("ALTER ROLE {} {clause};\n", ident(&r.name)))
            });
        }
        units.push(Unit {
            name: format!("role {}", r.name),
            guard: Guard::RoleAbsent(r.name.clone()),
            statements,
        });
        report.created.push(r.name.clone());
        if r.login {
            report.need_password.push(r.name.clone());
        }
        created.insert(&r.name);
    }
    if !created.is_empty() && !t.superuser && !t.create_role {
        return Err(Error::Invalid(format!(
            "the target user {} may not create roles (it needs CREATEROLE); {} role(s) to create: {}",
            t.user,
            created.len(),
            created.iter().copied().collect::<Vec<_>>().join(", ")
        )));
    }

    let chosen: BTreeSet<&str> = selected.iter().map(|r| r.name.as_str()).collect();
    let by_name = |n: &str| selected.iter().find(|r| r.name == n).copied();
    for m in &src.memberships {
        let role_predefined = m.role.starts_with("pg_");
        if !chosen.contains(m.member.as_str())
            || !(chosen.contains(m.role.as_str()) || role_predefined)
        {
            continue;
        }
        let what = format!("membership of {} in {}", m.member, m.role);
        let provider = [&m.role, &m.member]
            .into_iter()
            .find(|n| is_provider_role(n) && !n.starts_with("pg_"));
        if let Some(p) = provider {
            report
                .warnings
                .push(format!("{what} left out: {p} is a server or provider role"));
            continue;
        }
        // An assumed target is taken to have the predefined roles; the script checks.
        let exists = |n: &str| {
            created.contains(n) || t.roles.contains_key(n) || (t.assumed && n.starts_with("pg_"))
        };
        if !exists(&m.role) {
            // Only a predefined role the target lacks (a source newer than the target).
            report.warnings.push(format!(
                "{what} left out: the target has no role {}",
                m.role
            ));
            continue;
        }
        if t.memberships.contains(&(m.role.clone(), m.member.clone())) {
            report.memberships_already_there += 1;
            continue;
        }
        // The creator of a role may grant it: before 16 through CREATEROLE, from 16 on through
        // the ADMIN OPTION the server gives the creator.
        // On an assumed target the script finds out when it runs.
        let may = created.contains(m.role.as_str())
            || t.roles.get(&m.role).copied().unwrap_or(false)
            || t.assumed;
        if !may {
            report.warnings.push(format!(
                "{what} left out: the target user {} may not grant {} (it needs ADMIN OPTION on it)",
                t.user, m.role
            ));
            continue;
        }
        let mut m = m.clone();
        if m.member == t.user
            && !t.superuser
            && t.major() >= 16
            && created.contains(m.role.as_str())
        {
            // From 16 on the server gives a creating user ADMIN OPTION on what it creates, and
            // refuses to grant ADMIN OPTION back to that grantor: the membership is granted
            // for its INHERIT and SET options only, its ADMIN OPTION is already there.
            m.admin = false;
        }
        let sql = grant(&m, by_name(&m.member), t, &mut report.warnings);
        report.granted.push(format!("{} TO {}", m.role, m.member));
        units.push(Unit {
            name: what,
            guard: Guard::MembershipAbsent {
                role: m.role.clone(),
                member: m.member.clone(),
            },
            statements: vec![Statement::Sql(sql)],
        });
    }
    Ok(Plan {
        units,
        report,
        database: (!t.database.is_empty()).then(|| t.database.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn role(name: &str) -> Role {
        Role {
            name: name.into(),
            inherit: true,
            connection_limit: -1,
            ..Default::default()
        }
    }

    fn target(version: i32, superuser: bool) -> TargetState {
        TargetState {
            server_version: version,
            database: "New DB".into(),
            user: "admin".into(),
            superuser,
            create_role: true,
            roles: [
                ("admin".to_string(), true),
                ("existing".to_string(), superuser),
            ]
            .into_iter()
            .collect(),
            parameters: Some(
                [
                    ("work_mem", true),
                    ("search_path", true),
                    ("log_statement", superuser),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn all_sql(p: &Plan) -> String {
        p.units
            .iter()
            .flat_map(|u| u.statements.iter().map(|s| s.sql("New DB")))
            .collect()
    }

    #[test]
    fn split_lists_like_the_server_stores_them() {
        assert_eq!(split_list("\"$user\", public"), ["$user", "public"]);
        assert_eq!(split_list("a,\"b \"\"c\""), ["a", "b \"c"]);
        assert_eq!(
            set_clause("search_path=\"$user\", public").unwrap().1,
            "SET search_path TO '$user', 'public'"
        );
        assert_eq!(
            set_clause("work_mem=64MB").unwrap().1,
            "SET work_mem TO '64MB'"
        );
        assert_eq!(
            set_clause("my.opt=it's").unwrap().1,
            "SET \"my.opt\" TO 'it''s'"
        );
    }

    #[test]
    fn attributes_settings_comments_and_what_a_non_superuser_leaves_out() {
        let mut r = role("Weird \"Name\"");
        r.superuser = true;
        r.login = true;
        r.inherit = false;
        r.create_db = true;
        r.create_role = true;
        r.replication = true;
        r.bypass_rls = true;
        r.connection_limit = 3;
        r.valid_until = Some("2030-01-01T00:00:00.000000Z".into());
        r.comment = Some("it's".into());
        r.settings = vec![
            "work_mem=64MB".into(),
            "log_statement=all".into(),
            "gone=1".into(),
        ];
        r.database_settings = vec!["search_path=app, \"$user\"".into()];
        let src = SourceRoles {
            server_version: 150000,
            roles: vec![r],
            ..Default::default()
        };
        let p = plan(&src, &target(150000, true), None).unwrap();
        assert_eq!(
            all_sql(&p),
            "CREATE ROLE \"Weird \"\"Name\"\"\" WITH SUPERUSER LOGIN NOINHERIT CREATEDB CREATEROLE \
             REPLICATION BYPASSRLS CONNECTION LIMIT 3 VALID UNTIL '2030-01-01T00:00:00.000000Z';\n\
             COMMENT ON ROLE \"Weird \"\"Name\"\"\" IS 'it''s';\n\
             ALTER ROLE \"Weird \"\"Name\"\"\" SET work_mem TO '64MB';\n\
             ALTER ROLE \"Weird \"\"Name\"\"\" SET log_statement TO 'all';\n\
             ALTER ROLE \"Weird \"\"Name\"\"\" IN DATABASE \"New DB\" SET search_path TO 'app', '$user';\n"
        );
        assert_eq!(p.report.need_password, ["Weird \"Name\""]);
        assert_eq!(p.report.warnings.len(), 1, "{:?}", p.report.warnings);
        assert!(p.report.warnings[0].contains("no parameter gone"));

        let p = plan(&src, &target(150000, false), None).unwrap();
        let sql = all_sql(&p);
        assert!(sql.starts_with(
            "CREATE ROLE \"Weird \"\"Name\"\"\" WITH LOGIN NOINHERIT CREATEDB CREATEROLE CONNECTION"
        ), "{sql}");
        assert!(!sql.contains("log_statement"));
        let w = p.report.warnings.join("\n");
        assert!(
            w.contains("SUPERUSER, REPLICATION, BYPASSRLS left out"),
            "{w}"
        );
        assert!(w.contains("may not set it"), "{w}");
        // From 16 on, CREATEDB needs the granting user to have it.
        let p = plan(&src, &target(160000, false), None).unwrap();
        assert!(p.report.warnings[0].contains("SUPERUSER, CREATEDB, REPLICATION, BYPASSRLS"));
    }

    #[test]
    fn memberships_providers_existing_roles_and_versions() {
        let mut noinherit = role("m");
        noinherit.inherit = false;
        let src = SourceRoles {
            server_version: 160000,
            roles: vec![
                role("g"),
                noinherit,
                role("rds_superuser"),
                role("existing"),
            ],
            memberships: vec![
                Membership {
                    role: "g".into(),
                    member: "m".into(),
                    admin: true,
                    inherit: Some(true),
                    set: Some(false),
                },
                Membership {
                    role: "rds_superuser".into(),
                    member: "m".into(),
                    admin: false,
                    inherit: Some(true),
                    set: Some(true),
                },
                Membership {
                    role: "existing".into(),
                    member: "g".into(),
                    admin: false,
                    inherit: Some(true),
                    set: Some(true),
                },
                Membership {
                    role: "pg_monitor".into(),
                    member: "g".into(),
                    admin: false,
                    inherit: Some(true),
                    set: Some(true),
                },
            ],
            ..Default::default()
        };
        let mut t = target(160000, false);
        t.roles.insert("pg_monitor".into(), true);
        let p = plan(&src, &t, None).unwrap();
        assert_eq!(p.report.created, ["g", "m"]);
        assert_eq!(p.report.already_there, ["existing"]);
        assert_eq!(p.report.skipped, ["rds_superuser"]);
        assert_eq!(p.report.granted, ["g TO m", "pg_monitor TO g"]);
        let sql = all_sql(&p);
        assert!(
            sql.contains("GRANT g TO m WITH ADMIN OPTION, INHERIT TRUE, SET FALSE;\n"),
            "{sql}"
        );
        assert!(
            sql.contains("GRANT pg_monitor TO g WITH INHERIT TRUE, SET TRUE;\n"),
            "{sql}"
        );
        let w = p.report.warnings.join("\n");
        assert!(w.contains("role rds_superuser not created"), "{w}");
        assert!(
            w.contains("membership of m in rds_superuser left out"),
            "{w}"
        );
        assert!(
            w.contains("membership of g in existing left out: the target user admin may not grant"),
            "{w}"
        );

        // 16 to 15: the options the target cannot express are warned about.
        let p = plan(&src, &target(150000, true), None).unwrap();
        let sql = all_sql(&p);
        assert!(sql.contains("GRANT g TO m WITH ADMIN OPTION;\n"), "{sql}");
        assert!(sql.contains("GRANT existing TO g;\n"), "{sql}");
        let w = p.report.warnings.join("\n");
        assert!(w.contains("its INHERIT TRUE cannot be expressed"), "{w}");
        assert!(w.contains("SET FALSE cannot be expressed"), "{w}");

        // 15 to 16: INHERIT from the member's attribute.
        let mut old = src.clone();
        for m in &mut old.memberships {
            m.inherit = None;
            m.set = None;
        }
        let p = plan(&old, &target(160000, true), None).unwrap();
        assert!(all_sql(&p).contains("GRANT g TO m WITH ADMIN OPTION, INHERIT FALSE, SET TRUE;\n"));

        // Everything there: nothing to do.
        let mut t = target(160000, true);
        for r in ["g", "m", "pg_monitor"] {
            t.roles.insert(r.into(), true);
        }
        for (r, m) in [("g", "m"), ("existing", "g"), ("pg_monitor", "g")] {
            t.memberships.insert((r.into(), m.into()));
        }
        let p = plan(&src, &t, None).unwrap();
        assert!(p.units.is_empty() && p.report.nothing_to_do());
        assert_eq!(p.report.memberships_already_there, 3);
    }

    #[test]
    fn on_16_the_target_user_is_not_granted_admin_back_on_what_it_creates() {
        let src = SourceRoles {
            server_version: 150000,
            roles: vec![role("g"), role("admin")],
            memberships: vec![Membership {
                role: "g".into(),
                member: "admin".into(),
                admin: true,
                inherit: None,
                set: None,
            }],
            ..Default::default()
        };
        let p = plan(&src, &target(160000, false), None).unwrap();
        assert_eq!(
            all_sql(&p),
            "CREATE ROLE g;\nGRANT g TO admin WITH INHERIT TRUE, SET TRUE;\n"
        );
        let p = plan(&src, &target(150000, false), None).unwrap();
        assert!(all_sql(&p).ends_with("GRANT g TO admin WITH ADMIN OPTION;\n"));
    }

    #[test]
    fn an_assumed_target_creates_every_role_and_grants_predefined_ones() {
        let mut su = role("postgres");
        su.superuser = true;
        let src = SourceRoles {
            server_version: 150000,
            roles: vec![su, role("g")],
            memberships: vec![Membership {
                role: "pg_monitor".into(),
                member: "g".into(),
                admin: false,
                inherit: None,
                set: None,
            }],
            ..Default::default()
        };
        let p = plan(&src, &TargetState::assumed(150000, false), None).unwrap();
        assert_eq!(p.report.created, ["postgres", "g"]);
        assert_eq!(p.report.granted, ["pg_monitor TO g"]);
        assert!(p.database.is_none());
        assert_eq!(
            p.report.warnings,
            ["role postgres: SUPERUSER left out: the target user (assumed not a superuser) may not grant it"]
        );
    }

    #[test]
    fn a_user_that_cannot_create_roles_is_refused_before_anything() {
        let src = SourceRoles {
            roles: vec![role("a")],
            ..Default::default()
        };
        let mut t = target(150000, false);
        t.create_role = false;
        let e = plan(&src, &t, None).unwrap_err().to_string();
        assert!(e.contains("needs CREATEROLE") && e.contains(": a"), "{e}");
        let only: BTreeSet<String> = BTreeSet::new();
        assert!(plan(&src, &t, Some(&only)).unwrap().units.is_empty());
    }
}
