//! Foreign data wrappers and servers, text search, event triggers, publications, subscriptions,
//! languages, transforms, conversions, default privileges and privileges of system objects: the
//! kinds most databases have few of, each still read in one query.

use super::typeref::{type_cols, TypeCols};
use super::{ch, not_member, query_many, since, Conn, USER_SCHEMAS};
use crate::model::{
    Catalog, Conversion, DefaultPrivilege, EventTrigger, ForeignDataWrapper, ForeignServer,
    Language, Publication, PublicationTable, SecurityLabel, Subscription, SystemAcl,
    TextSearchConfig, TextSearchDict, TextSearchPart, Transform,
};
use crate::Result;
use std::collections::HashMap;

/// The type a transform is for.
const TRANSFORM_TYPE: TypeCols = type_cols!("trftype");

pub(super) async fn read(client: Conn<'_>, cat: &mut Catalog) -> Result<()> {
    let v = cat.server_version;
    let truncate = since(v, 110000, "x.pubtruncate", "false");
    let wrappers = format!(
        "SELECT x.oid, x.fdwname::text AS name,
                    NULLIF(x.fdwhandler, 0)::regproc::text AS handler,
                    NULLIF(x.fdwvalidator, 0)::regproc::text AS validator,
                    x.fdwoptions::text[] AS options, x.fdwacl::text[] AS acl,
                    pg_get_userbyid(x.fdwowner)::text AS owner
             FROM pg_foreign_data_wrapper x WHERE {} ORDER BY 2",
        not_member("pg_foreign_data_wrapper", "x", false)
    );
    // Through the pg_user_mappings view, as pg_dump does: the pg_user_mapping catalog is
    // readable by superusers only (an RDS master user is not one), the view by everyone, with
    // the options of mappings the user may not see as NULL.
    let user_mappings = "SELECT um.srvid AS umserver, CASE WHEN um.umuser = 0 THEN 'PUBLIC'
                                  ELSE quote_ident(um.usename::text) END AS role,
                um.umoptions::text[] AS options
         FROM pg_user_mappings um ORDER BY 1, 2"
        .to_string();
    let servers = format!(
        "SELECT x.oid, x.srvname::text AS name, w.fdwname::text AS wrapper,
                    x.srvtype AS type, x.srvversion AS version, x.srvoptions::text[] AS options,
                    x.srvacl::text[] AS acl, pg_get_userbyid(x.srvowner)::text AS owner
             FROM pg_foreign_server x JOIN pg_foreign_data_wrapper w ON w.oid = x.srvfdw
             WHERE {} ORDER BY 2",
        not_member("pg_foreign_server", "x", false)
    );
    let ts_mappings = "SELECT m.mapcfg, t.alias, m.mapdict::regdictionary::text AS dict
         FROM pg_ts_config_map m JOIN pg_ts_config c ON c.oid = m.mapcfg
         CROSS JOIN LATERAL ts_token_type(c.cfgparser) t
         WHERE t.tokid = m.maptokentype AND m.mapcfg >= 16384
         ORDER BY m.mapcfg, m.maptokentype, m.mapseqno"
        .to_string();
    let ts_configs = format!(
        "SELECT x.oid, n.nspname::text AS schema, x.cfgname::text AS name,
                    quote_ident(pn.nspname) || '.' || quote_ident(p.prsname) AS parser
             FROM pg_ts_config x JOIN pg_namespace n ON n.oid = x.cfgnamespace
             JOIN pg_ts_parser p ON p.oid = x.cfgparser JOIN pg_namespace pn ON pn.oid = p.prsnamespace
             WHERE {USER_SCHEMAS} AND {} ORDER BY 2, 3",
        not_member("pg_ts_config", "x", false)
    );
    let ts_dicts = format!(
        "SELECT x.oid, n.nspname::text AS schema, x.dictname::text AS name,
                    quote_ident(tn.nspname) || '.' || quote_ident(t.tmplname) AS template,
                    x.dictinitoption AS options
             FROM pg_ts_dict x JOIN pg_namespace n ON n.oid = x.dictnamespace
             JOIN pg_ts_template t ON t.oid = x.dicttemplate JOIN pg_namespace tn ON tn.oid = t.tmplnamespace
             WHERE {USER_SCHEMAS} AND {} ORDER BY 2, 3",
        not_member("pg_ts_dict", "x", false)
    );
    let event_triggers = format!(
        "SELECT x.oid, x.evtname::text AS name, x.evtevent::text AS event,
                    COALESCE(x.evttags, '{{}}')::text[] AS tags,
                    x.evtfoid::regproc::text AS func, x.evtenabled
             FROM pg_event_trigger x WHERE {} ORDER BY 2",
        not_member("pg_event_trigger", "x", false)
    );
    // Publications (logical replication) arrived in 10.
    let publications = match v >= 100000 {
        true => format!(
            "SELECT x.oid, x.pubname::text AS name, x.puballtables, x.pubinsert, x.pubupdate,
                        x.pubdelete, {truncate} AS pubtruncate, {via_root} AS pubviaroot,
                        {gencols} AS pubgencols, {schemas} AS schemas
                 FROM pg_publication x WHERE x.pubname !~ '^{prefix}' ORDER BY 2",
            // pgmove's own replication machinery is not part of the schema it moves.
            prefix = crate::cdc::names::PREFIX,
            via_root = since(v, 130000, "x.pubviaroot", "false"),
            gencols = since(v, 180000, "x.pubgencols::text", "NULL::text"),
            schemas = since(
                v,
                150000,
                "ARRAY(SELECT quote_ident(n.nspname) FROM pg_publication_namespace pn
                       JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE pn.pnpubid = x.oid ORDER BY 1)",
                "'{}'::text[]"
            ),
        ),
        false => String::new(),
    };
    let publication_tables = match v >= 100000 {
        true => format!(
            "SELECT pr.prpubid, pr.prrelid::regclass::text AS tab, {filter} AS filter,
                    {columns} AS columns
             FROM pg_publication_rel pr ORDER BY 1, 2",
            filter = since(v, 150000, "pg_get_expr(pr.prqual, pr.prrelid)", "NULL::text"),
            columns = since(
                v,
                150000,
                "CASE WHEN pr.prattrs IS NOT NULL THEN ARRAY(
                     SELECT quote_ident(a.attname) FROM unnest(pr.prattrs) WITH ORDINALITY u(n, k)
                     JOIN pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum = u.n ORDER BY u.k) END",
                "NULL::text[]"
            ),
        ),
        false => String::new(),
    };
    let languages = format!(
        "SELECT l.oid, l.lanname::text AS name, l.lanpltrusted,
                NULLIF(l.lanplcallfoid, 0)::regproc::text AS handler,
                NULLIF(l.laninline, 0)::regproc::text AS inline,
                NULLIF(l.lanvalidator, 0)::regproc::text AS validator,
                l.lanacl::text[] AS acl, pg_get_userbyid(l.lanowner)::text AS owner
         FROM pg_language l WHERE l.oid >= 16384 AND {} ORDER BY 2",
        not_member("pg_language", "l", false)
    );
    let transforms = match v >= 90500 {
        true => format!(
            "SELECT t.oid, {type_select}, l.lanname::text AS language,
                    NULLIF(t.trffromsql, 0)::regprocedure::text AS from_sql,
                    NULLIF(t.trftosql, 0)::regprocedure::text AS to_sql
             FROM pg_transform t JOIN pg_language l ON l.oid = t.trflang
             {type_joins}
             WHERE t.oid >= 16384 AND {} ORDER BY trftype, language",
            not_member("pg_transform", "t", false),
            type_select = TRANSFORM_TYPE.select(),
            type_joins = TRANSFORM_TYPE.joins("t.trftype"),
        ),
        false => String::new(),
    };
    let conversions = format!(
        "SELECT c.oid, n.nspname::text AS schema, c.conname::text AS name,
                pg_encoding_to_char(c.conforencoding)::text AS from_enc,
                pg_encoding_to_char(c.contoencoding)::text AS to_enc,
                c.conproc::regproc::text AS func, c.condefault
         FROM pg_conversion c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE {USER_SCHEMAS} AND {} ORDER BY 2, 3",
        not_member("pg_conversion", "c", false)
    );
    let ts_parts = format!(
        "SELECT p.oid, n.nspname::text AS schema, p.prsname::text AS name, 'P' AS kind,
                ARRAY[p.prsstart::regproc::text, p.prstoken::regproc::text,
                      p.prsend::regproc::text, p.prslextype::regproc::text,
                      NULLIF(p.prsheadline, 0)::regproc::text] AS funcs
         FROM pg_ts_parser p JOIN pg_namespace n ON n.oid = p.prsnamespace
         WHERE {USER_SCHEMAS} AND {}
         UNION ALL
         SELECT t.oid, n.nspname::text, t.tmplname::text, 'T',
                ARRAY[NULLIF(t.tmplinit, 0)::regproc::text, t.tmpllexize::regproc::text]
         FROM pg_ts_template t JOIN pg_namespace n ON n.oid = t.tmplnamespace
         WHERE {USER_SCHEMAS} AND {}
         ORDER BY 2, 3",
        not_member("pg_ts_parser", "p", false),
        not_member("pg_ts_template", "t", false)
    );
    // Privileges changed on pg_catalog's tables, columns and functions and on built-in languages
    // or ones an extension made (plpgsql): each against pg_init_privs (9.6+). A table's own
    // come before its columns' (REVOKE ALL on a table also revokes its column grants).
    let system_acls = match v >= 90600 {
        true => "SELECT 'TABLE' AS kind, c.oid::regclass::text AS target, NULL::text AS col,
                c.relacl::text[] AS acl, ip.initprivs::text[] AS init,
                pg_get_userbyid(c.relowner)::text AS owner
         FROM pg_class c LEFT JOIN pg_init_privs ip
              ON ip.classoid = 'pg_class'::regclass AND ip.objoid = c.oid AND ip.objsubid = 0
         WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relacl IS NOT NULL
           AND c.relacl IS DISTINCT FROM ip.initprivs
         UNION ALL
         SELECT 'TABLE', c.oid::regclass::text, quote_ident(a.attname), a.attacl::text[],
                ip.initprivs::text[], pg_get_userbyid(c.relowner)::text
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         LEFT JOIN pg_init_privs ip
              ON ip.classoid = 'pg_class'::regclass AND ip.objoid = c.oid AND ip.objsubid = a.attnum
         WHERE c.relnamespace = 'pg_catalog'::regnamespace AND a.attacl IS NOT NULL
           AND a.attacl IS DISTINCT FROM ip.initprivs
         UNION ALL
         SELECT 'FUNCTION', p.oid::regprocedure::text, NULL, p.proacl::text[], ip.initprivs::text[],
                pg_get_userbyid(p.proowner)::text
         FROM pg_proc p LEFT JOIN pg_init_privs ip
              ON ip.classoid = 'pg_proc'::regclass AND ip.objoid = p.oid AND ip.objsubid = 0
         WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proacl IS NOT NULL
           AND p.proacl IS DISTINCT FROM ip.initprivs
         UNION ALL
         SELECT 'LANGUAGE', quote_ident(l.lanname), NULL, l.lanacl::text[], ip.initprivs::text[],
                pg_get_userbyid(l.lanowner)::text
         FROM pg_language l LEFT JOIN pg_init_privs ip
              ON ip.classoid = 'pg_language'::regclass AND ip.objoid = l.oid AND ip.objsubid = 0
         WHERE l.lanacl IS NOT NULL AND l.lanacl IS DISTINCT FROM ip.initprivs
           AND (l.oid < 16384 OR EXISTS (SELECT 1 FROM pg_depend d
                WHERE d.classid = 'pg_language'::regclass AND d.objid = l.oid AND d.deptype = 'e'))
         ORDER BY 1, 2, 3 NULLS FIRST"
            .to_string(),
        false => String::new(),
    };
    // Whether this role may read subscriptions' connection strings (superusers: as pg_dump),
    // and how many this database has; read below only then (count(*) needs no hidden column).
    let subscriptions_here = match v >= 100000 {
        true => format!(
            "SELECT has_column_privilege('pg_catalog.pg_subscription', 'subconninfo', 'SELECT')
                        AS can,
                    (SELECT count(*) FROM pg_catalog.pg_subscription s
                     WHERE s.subdbid = (SELECT oid FROM pg_database
                                        WHERE datname = current_database())
                       AND s.subname !~ '^{prefix}') AS n",
            prefix = crate::cdc::names::PREFIX
        ),
        false => String::new(),
    };
    let default_privileges = format!(
        "SELECT pg_get_userbyid(d.defaclrole)::text AS role, n.nspname::text AS schema,
                    d.defaclobjtype, d.defaclacl::text[] AS acl
             FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
             WHERE d.defaclnamespace = 0 OR {USER_SCHEMAS} ORDER BY 1, 2, 3"
    );
    let labels = "SELECT l.classoid, l.objoid, l.objtype, l.objname, l.provider, l.label
         FROM pg_seclabels l
         WHERE l.objoid >= 16384 AND l.objtype NOT IN ('role', 'database', 'tablespace')
         ORDER BY 4, 5"
        .to_string();
    // Every query of this reader at once (pipelined: one round trip), then the rows in order.
    let [wrappers, user_mappings, servers, ts_mappings, ts_configs, ts_dicts, event_triggers, publications, publication_tables, default_privileges, labels, languages, transforms, conversions, ts_parts, system_acls, subscriptions_here] =
        query_many(
            client,
            [
                ("foreign data wrappers", wrappers),
                ("user mappings", user_mappings),
                ("foreign servers", servers),
                ("text search mappings", ts_mappings),
                ("text search configurations", ts_configs),
                ("text search dictionaries", ts_dicts),
                ("event triggers", event_triggers),
                ("publications", publications),
                ("publication tables", publication_tables),
                ("default privileges", default_privileges),
                ("security labels", labels),
                ("procedural languages", languages),
                ("transforms", transforms),
                ("conversions", conversions),
                ("text search parsers and templates", ts_parts),
                ("privileges of system objects", system_acls),
                ("subscriptions here", subscriptions_here),
            ],
        )
        .await?;
    let read_subscriptions = subscriptions_here
        .first()
        .is_some_and(|r| r.get::<_, bool>("can") && r.get::<_, i64>("n") > 0);
    if read_subscriptions {
        read_subscriptions_of(client, cat).await?;
    }
    for r in system_acls {
        cat.system_acls.push(SystemAcl {
            kind: r.get("kind"),
            target: r.get("target"),
            column: r.get("col"),
            acl: r.get::<_, Option<Vec<String>>>("acl").unwrap_or_default(),
            initial: r.get("init"),
            owner: r.get("owner"),
        });
    }
    for r in languages {
        cat.languages.push(Language {
            oid: r.get("oid"),
            name: r.get("name"),
            trusted: r.get("lanpltrusted"),
            handler: r.get("handler"),
            inline: r.get("inline"),
            validator: r.get("validator"),
            acl: r.get("acl"),
            owner: r.get("owner"),
        });
    }
    for r in transforms {
        let Some(ty) = TRANSFORM_TYPE.read(&r) else {
            continue; // not in one snapshot: the transform's dependency keeps its type
        };
        cat.transforms.push(Transform {
            oid: r.get("oid"),
            ty,
            language: r.get("language"),
            from_sql: r.get("from_sql"),
            to_sql: r.get("to_sql"),
        });
    }
    for r in conversions {
        cat.conversions.push(Conversion {
            oid: r.get("oid"),
            schema: r.get("schema"),
            name: r.get("name"),
            from_encoding: r.get("from_enc"),
            to_encoding: r.get("to_enc"),
            function: r.get("func"),
            default: r.get("condefault"),
        });
    }
    for r in ts_parts {
        let kind = if r.get::<_, &str>("kind") == "P" {
            'P'
        } else {
            'T'
        };
        let keys: &[&str] = match kind {
            'P' => &["START", "GETTOKEN", "END", "LEXTYPES", "HEADLINE"],
            _ => &["INIT", "LEXIZE"],
        };
        let funcs: Vec<Option<String>> = r.get("funcs");
        cat.text_search_parts.push(TextSearchPart {
            oid: r.get("oid"),
            schema: r.get("schema"),
            name: r.get("name"),
            kind,
            functions: keys
                .iter()
                .zip(funcs)
                .filter_map(|(k, f)| Some((k.to_string(), f?)))
                .collect(),
        });
    }
    for r in wrappers {
        cat.foreign_data_wrappers.push(ForeignDataWrapper {
            oid: r.get("oid"),
            name: r.get("name"),
            handler: r.get("handler"),
            validator: r.get("validator"),
            options: r
                .get::<_, Option<Vec<String>>>("options")
                .unwrap_or_default(),
            acl: r.get("acl"),
            owner: r.get("owner"),
        });
    }

    let mut mappings: HashMap<u32, Vec<(String, Vec<String>)>> = HashMap::new();
    for r in user_mappings {
        mappings.entry(r.get("umserver")).or_default().push((
            r.get("role"),
            r.get::<_, Option<Vec<String>>>("options")
                .unwrap_or_default(),
        ));
    }
    for r in servers {
        let oid: u32 = r.get("oid");
        cat.foreign_servers.push(ForeignServer {
            oid,
            name: r.get("name"),
            wrapper: r.get("wrapper"),
            server_type: r.get("type"),
            version: r.get("version"),
            options: r
                .get::<_, Option<Vec<String>>>("options")
                .unwrap_or_default(),
            user_mappings: mappings.remove(&oid).unwrap_or_default(),
            acl: r.get("acl"),
            owner: r.get("owner"),
        });
    }

    let mut maps: HashMap<u32, Vec<(String, Vec<String>)>> = HashMap::new();
    for r in ts_mappings {
        let cfg: u32 = r.get("mapcfg");
        let alias: String = r.get("alias");
        let dict: String = r.get("dict");
        let list = maps.entry(cfg).or_default();
        match list.last_mut() {
            Some((a, d)) if *a == alias => d.push(dict),
            _ => list.push((alias, vec![dict])),
        }
    }
    for r in ts_configs {
        let oid: u32 = r.get("oid");
        cat.text_search_configs.push(TextSearchConfig {
            oid,
            schema: r.get("schema"),
            name: r.get("name"),
            parser: r.get("parser"),
            mappings: maps.remove(&oid).unwrap_or_default(),
        });
    }
    for r in ts_dicts {
        cat.text_search_dicts.push(TextSearchDict {
            oid: r.get("oid"),
            schema: r.get("schema"),
            name: r.get("name"),
            template: r.get("template"),
            options: r.get("options"),
        });
    }

    for r in event_triggers {
        cat.event_triggers.push(EventTrigger {
            oid: r.get("oid"),
            name: r.get("name"),
            event: r.get("event"),
            tags: r.get("tags"),
            function: r.get("func"),
            enabled: ch(&r, "evtenabled"),
        });
    }

    if v >= 100000 {
        let mut pub_tables: HashMap<u32, Vec<PublicationTable>> = HashMap::new();
        for r in publication_tables {
            pub_tables
                .entry(r.get("prpubid"))
                .or_default()
                .push(PublicationTable {
                    table: r.get("tab"),
                    columns: r.get("columns"),
                    row_filter: r.get("filter"),
                });
        }
        for r in publications {
            let oid: u32 = r.get("oid");
            let publish = [
                ("insert", "pubinsert"),
                ("update", "pubupdate"),
                ("delete", "pubdelete"),
                ("truncate", "pubtruncate"),
            ]
            .into_iter()
            .filter(|(_, c)| r.get::<_, bool>(*c))
            .map(|(n, _)| n.to_string())
            .collect();
            cat.publications.push(Publication {
                oid,
                name: r.get("name"),
                all_tables: r.get("puballtables"),
                tables: pub_tables.remove(&oid).unwrap_or_default(),
                schemas: r.get("schemas"),
                publish,
                via_root: r.get("pubviaroot"),
                generated_columns: r
                    .get::<_, Option<String>>("pubgencols")
                    .and_then(|s| s.chars().next()),
            });
        }
    }

    for r in default_privileges {
        cat.default_privileges.push(DefaultPrivilege {
            role: r.get("role"),
            schema: r.get("schema"),
            objtype: ch(&r, "defaclobjtype"),
            acl: r.get::<_, Option<Vec<String>>>("acl").unwrap_or_default(),
        });
    }
    // Labels exist only where a label provider (e.g. sepgsql) is loaded; most sources have none.
    for r in labels {
        cat.security_labels.push(SecurityLabel {
            class: r.get("classoid"),
            oid: r.get("objoid"),
            objtype: r.get("objtype"),
            objname: r.get("objname"),
            provider: r.get("provider"),
            label: r.get("label"),
        });
    }
    Ok(())
}

/// The subscriptions of the database `client` reads, with their options other than the
/// defaults (`WITH` values as `CREATE SUBSCRIPTION` takes them). Only where the role may read
/// their connection strings.
async fn read_subscriptions_of(client: Conn<'_>, cat: &mut Catalog) -> Result<()> {
    let v = cat.server_version;
    let sql = format!(
        "SELECT s.oid, s.subname::text AS name, s.subconninfo AS conninfo,
                s.subslotname::text AS slot, s.subpublications::text[] AS pubs,
                {binary} AS binary, {stream} AS stream, {two_phase} AS two_phase,
                {disable} AS disable_on_error, {origin} AS origin,
                {password} AS password_required, {run_as_owner} AS run_as_owner,
                {failover} AS failover, s.subsynccommit AS synccommit
         FROM pg_catalog.pg_subscription s
         WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND s.subname !~ '^{prefix}'
         ORDER BY 2",
        // pgmove's own replication (cdc) is not part of the schema it moves; its connection
        // string holds the source's password.
        prefix = crate::cdc::names::PREFIX,
        binary = since(v, 140000, "s.subbinary", "false"),
        // A bool before 16 (on/off), then off/on/parallel.
        stream = match v {
            v if v >= 160000 => {
                "CASE s.substream WHEN 'f' THEN 'off' WHEN 't' THEN 'on' ELSE 'parallel' END"
            }
            v if v >= 140000 => "CASE WHEN s.substream THEN 'on' ELSE 'off' END",
            _ => "NULL::text",
        },
        two_phase = since(v, 150000, "s.subtwophasestate <> 'd'", "false"),
        disable = since(v, 150000, "s.subdisableonerr", "false"),
        origin = since(v, 160000, "s.suborigin", "'any'"),
        password = since(v, 160000, "s.subpasswordrequired", "true"),
        // Before 16 a subscription's changes applied as its owner: run_as_owner, as pg_dump.
        run_as_owner = since(v, 160000, "s.subrunasowner", "true"),
        failover = since(v, 170000, "s.subfailover", "false"),
    );
    for r in super::query(client, "subscriptions", &sql).await? {
        let mut options: Vec<(String, String)> = Vec::new();
        if r.get::<_, bool>("binary") {
            options.push(("binary".into(), "true".into()));
        }
        if let Some(s) = r.get::<_, Option<String>>("stream") {
            options.push(("streaming".into(), s));
        }
        for (col, name, value) in [
            ("two_phase", "two_phase", "on"),
            ("disable_on_error", "disable_on_error", "true"),
            ("run_as_owner", "run_as_owner", "true"),
            ("failover", "failover", "true"),
        ] {
            if r.get::<_, bool>(col) {
                options.push((name.into(), value.into()));
            }
        }
        if !r.get::<_, bool>("password_required") {
            options.push(("password_required".into(), "false".into()));
        }
        let origin: String = r.get("origin");
        if origin != "any" {
            options.push(("origin".into(), crate::quote::literal(&origin)));
        }
        let sync: String = r.get("synccommit");
        if sync != "off" {
            options.push(("synchronous_commit".into(), crate::quote::literal(&sync)));
        }
        cat.subscriptions.push(Subscription {
            oid: r.get("oid"),
            name: r.get("name"),
            conninfo: r.get("conninfo"),
            slot_name: r.get("slot"),
            publications: r.get("pubs"),
            options,
        });
    }
    Ok(())
}
