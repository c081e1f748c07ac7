//! GRANT/REVOKE from `aclitem` arrays, as pg_dump's `buildACLCommands` does: compare the
//! object's ACL with the default one its owner would have, revoke what is missing and grant what
//! is extra. A NULL ACL means "the defaults" and renders nothing.

use crate::quote;

/// The privileges an object kind can have, in `aclitem` letters, and their SQL names.
fn all_privileges(kind: &str) -> &'static str {
    match kind {
        "TABLE" => "arwdDxtm",
        "SEQUENCE" => "rwU",
        "LARGE OBJECT" => "rw",
        "FUNCTION" | "PROCEDURE" | "AGGREGATE" => "X",
        "SCHEMA" => "UC",
        "TYPE" | "DOMAIN" | "FOREIGN DATA WRAPPER" | "FOREIGN SERVER" | "LANGUAGE" => "U",
        _ => "",
    }
}

fn privilege_name(c: char) -> Option<&'static str> {
    Some(match c {
        'r' => "SELECT",
        'w' => "UPDATE",
        'a' => "INSERT",
        'd' => "DELETE",
        'D' => "TRUNCATE",
        'x' => "REFERENCES",
        't' => "TRIGGER",
        'X' => "EXECUTE",
        'U' => "USAGE",
        'C' => "CREATE",
        'c' => "CONNECT",
        'T' => "TEMPORARY",
        'm' => "MAINTAIN",
        _ => return None,
    })
}

/// One parsed `grantee=privs/grantor` item. An empty grantee is PUBLIC.
#[derive(Debug, Clone, PartialEq)]
struct AclItem {
    grantee: String,
    privs: String,
    grantor: String,
}

/// Read one role name of an aclitem's text form (double-quoted when it needs it).
fn take_name(s: &str) -> (String, &str) {
    if let Some(rest) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if rest[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                } else {
                    return (name, &rest[i + 1..]);
                }
            } else {
                name.push(c);
            }
        }
        (name, "")
    } else {
        let end = s.find(['=', '/']).unwrap_or(s.len());
        (s[..end].to_string(), &s[end..])
    }
}

fn parse(item: &str) -> Option<AclItem> {
    let (grantee, rest) = take_name(item);
    let rest = rest.strip_prefix('=')?;
    let (privs, grantor) = rest.split_once('/')?;
    let (grantor, _) = take_name(grantor);
    Some(AclItem {
        grantee,
        privs: privs.to_string(),
        grantor,
    })
}

fn parse_all(acl: &[String]) -> Vec<AclItem> {
    acl.iter().filter_map(|s| parse(s)).collect()
}

/// The default ACL of an object of `kind` owned by `owner`, given its ACL `items` (which tell
/// whether the source's owner could hold MAINTAIN).
fn owner_default(kind: &str, owner: &str, items: &[AclItem]) -> Vec<AclItem> {
    let owner_privs = items
        .iter()
        .find(|i| i.grantee == owner)
        .map(|i| i.privs.as_str())
        .unwrap_or_default();
    default_acl(kind, owner, owner_privs)
}

/// The default ACL of an object of `kind` owned by `owner` (what `acldefault` returns).
fn default_acl(kind: &str, owner: &str, privs_present: &str) -> Vec<AclItem> {
    // The owner's full set depends on the server version (MAINTAIN arrived in 17): take the
    // letters from the kind's list that the source's own owner item could hold.
    let mut all: String = all_privileges(kind).to_string();
    if !privs_present.contains('m') {
        all = all.replace('m', "");
    }
    let mut v = vec![AclItem {
        grantee: owner.to_string(),
        privs: all,
        grantor: owner.to_string(),
    }];
    match kind {
        "FUNCTION" | "PROCEDURE" | "AGGREGATE" => v.push(AclItem {
            grantee: String::new(),
            privs: "X".into(),
            grantor: owner.into(),
        }),
        "TYPE" | "DOMAIN" | "LANGUAGE" => v.push(AclItem {
            grantee: String::new(),
            privs: "U".into(),
            grantor: owner.into(),
        }),
        _ => {}
    }
    v
}

fn grantee_sql(g: &str) -> String {
    if g.is_empty() {
        "PUBLIC".into()
    } else {
        quote::ident(g)
    }
}

/// Privilege list for GRANT: `ALL` only when every privilege the newest servers know for the
/// kind is there. A table's "all" on a source before 17 lacks MAINTAIN; `GRANT ALL` on a newer
/// target would add it, so such a grant is spelled out instead (as pg_dump does).
fn privilege_list(kind: &str, privs: &str, column: Option<&str>) -> String {
    let letters: Vec<char> = privs.chars().filter(|c| *c != '*').collect();
    let all = all_privileges(kind);
    let col = column
        .map(|c| format!("({})", quote::ident(c)))
        .unwrap_or_default();
    if column.is_none() && !all.is_empty() && all.chars().all(|c| letters.contains(&c)) {
        return "ALL".into();
    }
    letters
        .iter()
        .filter_map(|c| privilege_name(*c))
        .map(|p| format!("{p}{col}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// GRANT/REVOKE statements that give `target` (e.g. `TABLE public.film`) the ACL `acl`.
/// `kind` is the object kind keyword (`TABLE`, `SEQUENCE`, `FUNCTION`, `SCHEMA`, `TYPE` …);
/// `column` renders column privileges (whose default is empty).
pub fn render_acl(
    kind: &str,
    target: &str,
    acl: Option<&[String]>,
    owner: &str,
    column: Option<&str>,
) -> String {
    let Some(acl) = acl else {
        return String::new();
    };
    let items = parse_all(acl);
    let base = if column.is_some() {
        Vec::new()
    } else {
        owner_default(kind, owner, &items)
    };
    acl_commands(kind, target, &items, &base, column, false)
}

/// GRANT/REVOKE that give an object pgmove does not create (see [`crate::model::SystemAcl`])
/// the ACL `acl`, against `initial` (its `pg_init_privs`) or, without it, its owner's defaults.
pub fn render_system_acl(
    kind: &str,
    target: &str,
    acl: &[String],
    initial: Option<&[String]>,
    owner: &str,
    column: Option<&str>,
) -> String {
    let items = parse_all(acl);
    let base = match (initial, column) {
        (Some(init), _) => parse_all(init),
        (None, Some(_)) => Vec::new(),
        (None, None) => owner_default(kind, owner, &items),
    };
    acl_commands(kind, target, &items, &base, column, false)
}

/// `ALTER DEFAULT PRIVILEGES` bodies: `objects` is `TABLES`, `SEQUENCES`…; a global entry holds
/// the whole wanted ACL (compared with the role's defaults), an `IN SCHEMA` one only additions.
pub fn render_default_privileges(
    kind: &str,
    objects: &str,
    acl: &[String],
    role: &str,
    in_schema: bool,
) -> String {
    let items = parse_all(acl);
    let base = if in_schema {
        Vec::new()
    } else {
        owner_default(kind, role, &items)
    };
    acl_commands(kind, objects, &items, &base, None, true)
}

/// The `public` schema's ACL, against what a new database of 15 or later gives it (owner USAGE
/// and CREATE, PUBLIC USAGE). A source before 15 gave PUBLIC CREATE too; comparing with the
/// target's default grants it back, as pg_dump's script does.
pub fn render_public_schema_acl(acl: Option<&[String]>, owner: &str) -> String {
    let Some(acl) = acl else {
        return String::new();
    };
    let items = parse_all(acl);
    let base = public_schema_base(owner);
    acl_commands("SCHEMA", "SCHEMA public", &items, &base, None, false)
}

/// What a new database of 15 or later gives the `public` schema.
fn public_schema_base(owner: &str) -> Vec<AclItem> {
    vec![
        AclItem {
            grantee: owner.into(),
            privs: "UC".into(),
            grantor: owner.into(),
        },
        AclItem {
            grantee: String::new(),
            privs: "U".into(),
            grantor: owner.into(),
        },
    ]
}

/// The roles (not PUBLIC) that [`render_acl`]'s statements for the same arguments name.
pub fn acl_roles(
    kind: &str,
    acl: Option<&[String]>,
    owner: &str,
    column: Option<&str>,
) -> Vec<String> {
    let Some(acl) = acl else {
        return Vec::new();
    };
    let items = parse_all(acl);
    let base = if column.is_some() {
        Vec::new()
    } else {
        owner_default(kind, owner, &items)
    };
    roles_of(&acl_changes(kind, &items, &base, column, false))
}

/// The roles (not PUBLIC) that [`render_public_schema_acl`]'s statements name.
pub fn public_schema_acl_roles(acl: Option<&[String]>, owner: &str) -> Vec<String> {
    let Some(acl) = acl else {
        return Vec::new();
    };
    let items = parse_all(acl);
    roles_of(&acl_changes(
        "SCHEMA",
        &items,
        &public_schema_base(owner),
        None,
        false,
    ))
}

fn roles_of(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| !c.role.is_empty())
        .map(|c| c.role.clone())
        .collect()
}

/// One `GRANT`/`REVOKE` of [`acl_commands`], before it is SQL.
struct Change {
    revoke: bool,
    /// The privilege list as SQL (`ALL`, `SELECT,UPDATE(col)`…).
    privileges: String,
    /// The role; empty for PUBLIC.
    role: String,
    with_grant_option: bool,
}

fn acl_commands(
    kind: &str,
    target: &str,
    items: &[AclItem],
    base: &[AclItem],
    column: Option<&str>,
    narrow: bool,
) -> String {
    let mut out = String::new();
    for c in acl_changes(kind, items, base, column, narrow) {
        let (verb, to) = if c.revoke {
            ("REVOKE", "FROM")
        } else {
            ("GRANT", "TO")
        };
        let option = if c.with_grant_option {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        out.push_str(&format!(
            "{verb} {} ON {target} {to} {}{option};\n",
            c.privileges,
            grantee_sql(&c.role)
        ));
    }
    out
}

/// What it takes to turn `base` into `items`: revokes first, then grants.
fn acl_changes(
    kind: &str,
    items: &[AclItem],
    base: &[AclItem],
    column: Option<&str>,
    narrow: bool,
) -> Vec<Change> {
    let mut out = Vec::new();
    // With `narrow` (default privileges, whose role is named, owners kept or not), the default
    // item a wanted item narrows: same grantee and grantor, no grant options. Only the
    // privileges it lacks are revoked (and those it adds granted), as pg_dump does: a privilege
    // the target has and the source did not know (MAINTAIN on 17+ for a source before 17) then
    // stays the target's default, as it does for an ACL left at the default. An object's ACL
    // is not narrowed: without owners the target's owner is another role.
    let narrowed = |b: &AclItem| {
        items.iter().find(|i| {
            narrow
                && i.grantee == b.grantee
                && i.grantor == b.grantor
                && !i.privs.contains('*')
                && !b.privs.contains('*')
        })
    };
    for b in base {
        if items.contains(b) {
            continue;
        }
        match narrowed(b) {
            Some(i) => {
                let lost: String = b.privs.chars().filter(|c| !i.privs.contains(*c)).collect();
                if !lost.is_empty() {
                    out.push(Change {
                        revoke: true,
                        privileges: privilege_list(kind, &lost, column),
                        role: b.grantee.clone(),
                        with_grant_option: false,
                    });
                }
            }
            None => out.push(Change {
                revoke: true,
                privileges: "ALL".into(),
                role: b.grantee.clone(),
                with_grant_option: false,
            }),
        }
    }
    for i in items {
        if base.contains(i) {
            continue;
        }
        // Against the default it narrows, only what it adds.
        let added: AclItem;
        let i = match base.iter().find(|b| narrowed(b) == Some(i)) {
            Some(b) => {
                added = AclItem {
                    privs: i.privs.chars().filter(|c| !b.privs.contains(*c)).collect(),
                    ..i.clone()
                };
                &added
            }
            None => i,
        };
        let plain: String = i
            .privs
            .chars()
            .enumerate()
            .filter(|(n, c)| *c != '*' && !i.privs[n + 1..].starts_with('*'))
            .map(|(_, c)| c)
            .collect();
        let with_option: String = i
            .privs
            .chars()
            .enumerate()
            .filter(|(n, c)| *c != '*' && i.privs[n + 1..].starts_with('*'))
            .map(|(_, c)| c)
            .collect();
        for (privs, with_grant_option) in [(plain, false), (with_option, true)] {
            if !privs.is_empty() {
                out.push(Change {
                    revoke: false,
                    privileges: privilege_list(kind, &privs, column),
                    role: i.grantee.clone(),
                    with_grant_option,
                });
            }
        }
    }
    out
}

/// The roles (not PUBLIC) that an ACL names, grantees and grantors.
pub fn acl_grantees(acl: &[String]) -> Vec<String> {
    acl.iter()
        .filter_map(|s| parse(s))
        .flat_map(|i| [i.grantee, i.grantor])
        .filter(|g| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_are_those_the_statements_name() {
        // Owner's default entry kept, a grantor, PUBLIC: none is named.
        let a = acl(&["alice=arwdDxt/alice", "=r/alice", "\"Bob Smith\"=r*/alice"]);
        assert_eq!(
            render_acl("TABLE", "TABLE t", Some(&a), "alice", None),
            "GRANT SELECT ON TABLE t TO PUBLIC;\nGRANT SELECT ON TABLE t TO \"Bob Smith\" WITH GRANT OPTION;\n"
        );
        assert_eq!(acl_roles("TABLE", Some(&a), "alice", None), ["Bob Smith"]);
        // The owner narrowed: revoked from, so named.
        let a = acl(&["alice=r/alice"]);
        assert_eq!(
            acl_roles("TABLE", Some(&a), "alice", None),
            ["alice", "alice"]
        );
        assert!(acl_roles("TABLE", None, "alice", None).is_empty());
        let public = acl(&["owner=UC/owner", "=UC/owner"]);
        assert!(render_public_schema_acl(Some(&public), "owner").contains(" TO PUBLIC;"));
        assert!(public_schema_acl_roles(Some(&public), "owner").is_empty());
    }

    #[test]
    fn default_acl_renders_nothing() {
        let a = acl(&["postgres=arwdDxt/postgres"]);
        assert_eq!(
            render_acl("TABLE", "TABLE t", Some(&a), "postgres", None),
            ""
        );
        assert_eq!(render_acl("TABLE", "TABLE t", None, "postgres", None), "");
    }

    #[test]
    fn a_narrowed_default_privilege_revokes_only_what_it_lacks() {
        // A source before 17 (no MAINTAIN): the role's tables lose SELECT by default.
        let a = acl(&["alice=awdDxt/alice", "bob=r/alice"]);
        assert_eq!(
            render_default_privileges("TABLE", "TABLES", &a, "alice", false),
            "REVOKE SELECT ON TABLES FROM alice;\nGRANT SELECT ON TABLES TO bob;\n"
        );
        // An object's ACL is not narrowed (the target's owner may be another role).
        let t = acl(&["alice=awdDxt/alice"]);
        assert_eq!(
            render_acl("TABLE", "TABLE t", Some(&t), "alice", None),
            "REVOKE ALL ON TABLE t FROM alice;\nGRANT INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER ON TABLE t TO alice;\n"
        );
    }

    #[test]
    fn extra_grants_and_revoked_public() {
        let a = acl(&[
            "postgres=arwdDxt/postgres",
            "app=r/postgres",
            "\"we ird\"=arw*/postgres",
        ]);
        let sql = render_acl("TABLE", "TABLE public.t", Some(&a), "postgres", None);
        assert_eq!(
            sql,
            "GRANT SELECT ON TABLE public.t TO app;\n\
             GRANT INSERT,SELECT ON TABLE public.t TO \"we ird\";\n\
             GRANT UPDATE ON TABLE public.t TO \"we ird\" WITH GRANT OPTION;\n"
        );
        let f = acl(&["postgres=X/postgres"]);
        assert_eq!(
            render_acl("FUNCTION", "FUNCTION f()", Some(&f), "postgres", None),
            "REVOKE ALL ON FUNCTION f() FROM PUBLIC;\n"
        );
    }

    #[test]
    fn column_privileges() {
        let a = acl(&["app=rw/postgres"]);
        assert_eq!(
            render_acl("TABLE", "TABLE t", Some(&a), "postgres", Some("c")),
            "GRANT SELECT(c),UPDATE(c) ON TABLE t TO app;\n"
        );
    }
}
