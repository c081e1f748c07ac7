//! The catalog model: plain structs filled once from `pg_catalog`, read by everything else.
//!
//! This is the hub of pgmove. Readers ([`crate::catalog`]) fill it; renderers ([`crate::render`]),
//! the dependency sort ([`crate::sort`]), validation and the DMS planner only read it. It holds no
//! connections and no behaviour beyond lookups, so two models (source and target) can be compared
//! and every renderer can be tested on hand-built values.
//!
//! Text fields that come from the server's own deparsers (`pg_get_viewdef`, `pg_get_constraintdef`,
//! `format_type`, …) are stored as the server printed them, read with `search_path = ''` so every
//! name inside is schema-qualified. They are for the renderers to print, never for anyone to
//! parse: what a consumer needs to know is kept as data beside them (a key's and a foreign
//! key's columns in [`KeyDef`], an index's in [`IndexParts`], inheritance parents by OID, and
//! every type a column, argument, result, cast, operator, range, domain, aggregate, operator
//! class or typed table names in a [`ColumnType`]).

mod objects;
mod relations;

/// Short catalog text (names, types, owners), inline up to 24 bytes: see the `compact_str` crate.
pub use compact_str::CompactString;
pub use objects::*;
pub use relations::*;

use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Catalog OIDs of the system tables pgmove refers to in [`ObjRef::class`]. They are fixed in
/// every PostgreSQL release.
pub mod class {
    pub const PG_CLASS: u32 = 1259;
    pub const PG_TYPE: u32 = 1247;
    pub const PG_PROC: u32 = 1255;
    pub const PG_NAMESPACE: u32 = 2615;
    pub const PG_CONSTRAINT: u32 = 2606;
    pub const PG_ATTRDEF: u32 = 2604;
    pub const PG_REWRITE: u32 = 2618;
    pub const PG_TRIGGER: u32 = 2620;
    pub const PG_EXTENSION: u32 = 3079;
    pub const PG_COLLATION: u32 = 3456;
    pub const PG_OPERATOR: u32 = 2617;
    pub const PG_OPCLASS: u32 = 2616;
    pub const PG_OPFAMILY: u32 = 2753;
    pub const PG_CAST: u32 = 2605;
    pub const PG_TS_CONFIG: u32 = 3602;
    pub const PG_TS_DICT: u32 = 3600;
    pub const PG_FOREIGN_DATA_WRAPPER: u32 = 2328;
    pub const PG_FOREIGN_SERVER: u32 = 1417;
    pub const PG_POLICY: u32 = 3256;
    pub const PG_STATISTIC_EXT: u32 = 3381;
    pub const PG_EVENT_TRIGGER: u32 = 3466;
    pub const PG_PUBLICATION: u32 = 6104;
    pub const PG_SUBSCRIPTION: u32 = 6100;
    pub const PG_LANGUAGE: u32 = 2612;
    /// Not a catalog: the rows of a materialized view, `(MATVIEW_DATA, its OID)`, which its
    /// `REFRESH` item provides, so that a refresh can follow the refreshes of what it reads.
    pub const MATVIEW_DATA: u32 = 0;
    pub const PG_AM: u32 = 2601;
    pub const PG_TRANSFORM: u32 = 3576;
    pub const PG_CONVERSION: u32 = 2607;
    pub const PG_TS_PARSER: u32 = 3601;
    pub const PG_TS_TEMPLATE: u32 = 3764;
    pub const PG_AMOP: u32 = 2602;
    pub const PG_AMPROC: u32 = 2603;
}

/// One catalog object: the system table it lives in and its OID there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjRef {
    pub class: u32,
    pub oid: u32,
}

impl ObjRef {
    pub const fn new(class: u32, oid: u32) -> Self {
        ObjRef { class, oid }
    }
}

/// One row of `pg_depend` between two user objects (OIDs ≥ 16384).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Depend {
    pub obj: ObjRef,
    pub obj_sub: i32,
    pub refobj: ObjRef,
    pub ref_sub: i32,
    /// `n` normal, `a` auto, `i` internal, `e` extension member, `x` auto-extension.
    pub deptype: char,
}

/// Everything pgmove read from one database, in one snapshot. Build one by hand from
/// [`Catalog::default`] (it grows new fields as pgmove learns more of the catalog).
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Catalog {
    /// `server_version_num` of the source, e.g. 150018.
    pub server_version: i32,
    pub schemas: Vec<Schema>,
    pub extensions: Vec<Extension>,
    pub collations: Vec<Collation>,
    pub types: Vec<TypeDef>,
    pub functions: Vec<Function>,
    pub aggregates: Vec<Aggregate>,
    pub operators: Vec<Operator>,
    pub access_methods: Vec<AccessMethod>,
    pub operator_families: Vec<OpFamily>,
    pub operator_classes: Vec<OpClass>,
    pub casts: Vec<Cast>,
    pub text_search_configs: Vec<TextSearchConfig>,
    pub text_search_dicts: Vec<TextSearchDict>,
    /// Text search parsers and templates.
    pub text_search_parts: Vec<TextSearchPart>,
    pub languages: Vec<Language>,
    pub transforms: Vec<Transform>,
    pub conversions: Vec<Conversion>,
    pub foreign_data_wrappers: Vec<ForeignDataWrapper>,
    pub foreign_servers: Vec<ForeignServer>,
    pub sequences: Vec<Sequence>,
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub indexes: Vec<Index>,
    pub constraints: Vec<Constraint>,
    pub triggers: Vec<Trigger>,
    pub rules: Vec<Rule>,
    pub policies: Vec<Policy>,
    pub statistics: Vec<Statistic>,
    pub event_triggers: Vec<EventTrigger>,
    pub publications: Vec<Publication>,
    /// Subscriptions of this database (only when the reading role may see their connection
    /// strings, as pg_dump).
    pub subscriptions: Vec<Subscription>,
    pub default_privileges: Vec<DefaultPrivilege>,
    /// Privileges changed on system objects (9.6+).
    pub system_acls: Vec<SystemAcl>,
    pub security_labels: Vec<SecurityLabel>,
    /// `COMMENT ON` text keyed by (class, oid, sub-id) as in `pg_description`.
    pub comments: HashMap<(u32, u32, i32), String>,
    /// Dependencies between user objects.
    pub depends: Vec<Depend>,
    /// Objects that belong to an extension (created by `CREATE EXTENSION`, never by us).
    pub extension_members: HashSet<ObjRef>,
    /// Sub-objects mapped to the object that defines them: a table's rowtype and an array type
    /// to the table or element type, a composite type's relation to the type, a view's `_RETURN`
    /// rule to the view, a column default or check constraint to its table or domain.
    pub owners: HashMap<ObjRef, ObjRef>,
}

impl Catalog {
    /// The server's major version (e.g. 15 for 150018, 9 for 90624).
    pub fn major(&self) -> i32 {
        self.server_version / 10000
    }

    /// The comment on an object, if any.
    pub fn comment(&self, class: u32, oid: u32, sub: i32) -> Option<&str> {
        self.comments.get(&(class, oid, sub)).map(String::as_str)
    }

    /// Move everything `other` holds into `self`: the catalog reader fills two halves on two
    /// connections of one snapshot and joins them here. Every field is named, so a field added
    /// to the model cannot be forgotten.
    pub fn absorb(&mut self, other: Catalog) {
        let Catalog {
            server_version: _,
            schemas,
            extensions,
            collations,
            types,
            functions,
            aggregates,
            operators,
            access_methods,
            operator_families,
            operator_classes,
            casts,
            text_search_configs,
            text_search_dicts,
            text_search_parts,
            languages,
            transforms,
            conversions,
            foreign_data_wrappers,
            foreign_servers,
            sequences,
            tables,
            views,
            indexes,
            constraints,
            triggers,
            rules,
            policies,
            statistics,
            event_triggers,
            publications,
            subscriptions,
            default_privileges,
            system_acls,
            security_labels,
            comments,
            depends,
            extension_members,
            owners,
        } = other;
        self.schemas.extend(schemas);
        self.extensions.extend(extensions);
        self.collations.extend(collations);
        self.types.extend(types);
        self.functions.extend(functions);
        self.aggregates.extend(aggregates);
        self.operators.extend(operators);
        self.access_methods.extend(access_methods);
        self.operator_families.extend(operator_families);
        self.operator_classes.extend(operator_classes);
        self.casts.extend(casts);
        self.text_search_configs.extend(text_search_configs);
        self.text_search_dicts.extend(text_search_dicts);
        self.text_search_parts.extend(text_search_parts);
        self.languages.extend(languages);
        self.transforms.extend(transforms);
        self.conversions.extend(conversions);
        self.foreign_data_wrappers.extend(foreign_data_wrappers);
        self.foreign_servers.extend(foreign_servers);
        self.sequences.extend(sequences);
        self.tables.extend(tables);
        self.views.extend(views);
        self.indexes.extend(indexes);
        self.constraints.extend(constraints);
        self.triggers.extend(triggers);
        self.rules.extend(rules);
        self.policies.extend(policies);
        self.statistics.extend(statistics);
        self.event_triggers.extend(event_triggers);
        self.publications.extend(publications);
        self.subscriptions.extend(subscriptions);
        self.default_privileges.extend(default_privileges);
        self.system_acls.extend(system_acls);
        self.security_labels.extend(security_labels);
        self.comments.extend(comments);
        self.depends.extend(depends);
        self.extension_members.extend(extension_members);
        self.owners.extend(owners);
    }

    /// Tables by OID, for renderers that name a table from a child object.
    pub fn table_by_oid(&self) -> HashMap<u32, &Table> {
        self.tables.iter().map(|t| (t.oid, t)).collect()
    }
}
