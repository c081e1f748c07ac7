//! Catalog reads for [`super`]: the source's roles into [`SourceRoles`], the target's state
//! into [`TargetState`]. Plain queries on catalogs every user may read (`pg_roles`,
//! `pg_auth_members`, `pg_db_role_setting`, `pg_shdescription`, `pg_settings`); never
//! `pg_authid`, never a password. Nothing here writes.

use super::{Membership, Role, SourceRoles, TargetState};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::{Client, Row};

async fn query(client: &Client, what: &str, sql: &str) -> Result<Vec<Row>> {
    client
        .query(sql, &[])
        .await
        .map_err(|e| Error::db(e, Some(format!("reading {what}")), Some(sql)))
}

/// `server_version_num` of the connected server.
async fn version(client: &Client, what: &str) -> Result<i32> {
    let rows = query(
        client,
        what,
        "SELECT pg_catalog.current_setting('server_version_num')::int",
    )
    .await?;
    Ok(rows[0].get(0))
}

/// Read every role of the source cluster but the predefined `pg_*` ones, with their
/// memberships, role-wide settings, settings in the connected database, and comments; and the
/// connected database's owner and ACL.
pub async fn read_source(client: &Client) -> Result<SourceRoles> {
    let v = version(client, "source version").await?;
    let db = query(
        client,
        "source database",
        "SELECT d.datname::text, pg_catalog.pg_get_userbyid(d.datdba)::text,
                COALESCE(d.datacl::text[], '{}')
           FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()",
    )
    .await?;
    let bypass = if v >= 90500 {
        "r.rolbypassrls"
    } else {
        "false"
    };
    let roles_sql = format!(
        "SELECT r.rolname::text AS name, r.rolsuper, r.rolinherit, r.rolcreaterole,
                r.rolcreatedb, r.rolcanlogin, r.rolreplication, {bypass} AS rolbypassrls,
                r.rolconnlimit,
                CASE WHEN r.rolvaliduntil IS NULL THEN NULL
                     WHEN r.rolvaliduntil = 'infinity' THEN 'infinity'
                     WHEN r.rolvaliduntil = '-infinity' THEN '-infinity'
                     ELSE pg_catalog.to_char(r.rolvaliduntil AT TIME ZONE 'UTC',
                                             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END AS valid_until,
                (SELECT d.description FROM pg_catalog.pg_shdescription d
                  WHERE d.objoid = r.oid AND d.classoid = 1260) AS comment, -- 1260: roles' class

                COALESCE((SELECT s.setconfig::text[] FROM pg_catalog.pg_db_role_setting s
                           WHERE s.setrole = r.oid AND s.setdatabase = 0), '{{}}') AS settings,
                COALESCE((SELECT s.setconfig::text[] FROM pg_catalog.pg_db_role_setting s
                           JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
                          WHERE s.setrole = r.oid AND d.datname = pg_catalog.current_database()),
                         '{{}}') AS database_settings
           FROM pg_catalog.pg_roles r
          WHERE r.rolname !~ '^pg_'
          ORDER BY r.rolname"
    );
    let roles = query(client, "source roles", &roles_sql)
        .await?
        .iter()
        .map(|r| Role {
            name: r.get("name"),
            superuser: r.get("rolsuper"),
            inherit: r.get("rolinherit"),
            create_role: r.get("rolcreaterole"),
            create_db: r.get("rolcreatedb"),
            login: r.get("rolcanlogin"),
            replication: r.get("rolreplication"),
            bypass_rls: r.get("rolbypassrls"),
            connection_limit: r.get("rolconnlimit"),
            valid_until: r.get("valid_until"),
            comment: r.get("comment"),
            settings: r.get("settings"),
            database_settings: r.get("database_settings"),
        })
        .collect();
    let options = if v >= 160000 {
        "bool_or(a.inherit_option), bool_or(a.set_option)"
    } else {
        "NULL::bool, NULL::bool"
    };
    let members_sql = format!(
        "SELECT r.rolname::text, m.rolname::text, bool_or(a.admin_option), {options}
           FROM pg_catalog.pg_auth_members a
           JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
           JOIN pg_catalog.pg_roles m ON m.oid = a.member
          GROUP BY 1, 2 ORDER BY 1, 2"
    );
    let memberships = query(client, "source memberships", &members_sql)
        .await?
        .iter()
        .map(|r| Membership {
            role: r.get(0),
            member: r.get(1),
            admin: r.get(2),
            inherit: r.get(3),
            set: r.get(4),
        })
        .collect();
    Ok(SourceRoles {
        server_version: v,
        database: db[0].get(0),
        roles,
        memberships,
        database_owner: db[0].get(1),
        database_acl: db[0].get(2),
    })
}

/// Read who connects to the target, what it may grant, and the target's roles, memberships and
/// parameters.
pub async fn read_target(client: &Client) -> Result<TargetState> {
    let v = version(client, "target version").await?;
    let bypass = if v >= 90500 { "rolbypassrls" } else { "false" };
    let me = query(
        client,
        "target user",
        &format!(
            "SELECT pg_catalog.current_database()::text, rolname::text, rolsuper,
                    rolcreaterole, rolcreatedb, rolreplication, {bypass}
               FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER"
        ),
    )
    .await?;
    let me = &me[0];
    let mut t = TargetState {
        server_version: v,
        database: me.get(0),
        user: me.get(1),
        superuser: me.get(2),
        create_role: me.get(3),
        create_db: me.get(4),
        replication: me.get(5),
        bypass_rls: me.get(6),
        ..Default::default()
    };
    // Who may grant membership in a role: a superuser; before 16 a CREATEROLE user, in any
    // role but a superuser; from 16 on whoever holds ADMIN OPTION on it.
    for r in query(
        client,
        "target roles",
        "SELECT rolname::text, rolsuper,
                pg_catalog.pg_has_role(CURRENT_USER, oid, 'MEMBER WITH ADMIN OPTION')
           FROM pg_catalog.pg_roles",
    )
    .await?
    {
        let (super_role, admin): (bool, bool) = (r.get(1), r.get(2));
        let can = t.superuser || admin || (v < 160000 && t.create_role && !super_role);
        t.roles.insert(r.get(0), can);
    }
    t.memberships = query(
        client,
        "target memberships",
        "SELECT r.rolname::text, m.rolname::text
           FROM pg_catalog.pg_auth_members a
           JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
           JOIN pg_catalog.pg_roles m ON m.oid = a.member",
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect::<BTreeSet<(String, String)>>();
    // A parameter may be set for a role when its context allows it (a user parameter, or one
    // fixed at connection start), and for a superuser parameter when the user is a superuser or
    // (15+) was granted SET on it.
    let su_priv = if v >= 150000 {
        "pg_catalog.has_parameter_privilege(name, 'SET')"
    } else if t.superuser {
        "true"
    } else {
        "false"
    };
    let params = query(
        client,
        "target parameters",
        &format!(
            "SELECT name::text,
                    CASE WHEN context IN ('user', 'backend') THEN true
                         WHEN context IN ('superuser', 'superuser-backend') THEN {su_priv}
                         ELSE false END
               FROM pg_catalog.pg_settings"
        ),
    )
    .await?;
    t.parameters = Some(
        params
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect::<BTreeMap<String, bool>>(),
    );
    Ok(t)
}
