//! Objects that are not relations: schemas, extensions, types, routines, operators, casts, text
//! search, foreign data wrappers, event triggers, publications, default privileges.

use serde::Serialize;

/// A schema (`pg_namespace`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Schema {
    pub oid: u32,
    pub name: String,
    pub acl: Option<Vec<String>>,
    pub owner: String,
}

impl Schema {
    /// A schema with no owner and default privileges.
    pub fn new(oid: u32, name: &str) -> Schema {
        Schema {
            oid,
            name: name.to_string(),
            acl: None,
            owner: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Extension {
    pub oid: u32,
    pub name: String,
    pub schema: String,
    pub version: String,
    /// The extension's configuration tables (`extconfig`), whose rows are user data to copy,
    /// each with its `extcondition` (a `WHERE …` clause or empty), as
    /// `pg_extension_config_dump` recorded them.
    pub config: Vec<(u32, String)>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Collation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `c` libc, `i` icu, `b` builtin, `d` default.
    pub provider: char,
    pub deterministic: bool,
    pub collate: Option<String>,
    pub ctype: Option<String>,
    /// ICU / builtin locale (`colliculocale` 15–16, `colllocale` 17+).
    pub locale: Option<String>,
    pub icu_rules: Option<String>,
}

/// A user-defined type. Rowtypes of tables and array types are not listed: they come with what
/// defines them.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TypeDef {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub kind: TypeKind,
    pub acl: Option<Vec<String>>,
    pub owner: String,
}

impl TypeDef {
    /// The type `schema.name` (OID `oid`) of kind `kind`, without owner or privileges.
    pub fn new(oid: u32, schema: &str, name: &str, kind: TypeKind) -> TypeDef {
        TypeDef {
            oid,
            schema: schema.into(),
            name: name.into(),
            kind,
            acl: None,
            owner: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub enum TypeKind {
    Enum {
        labels: Vec<String>,
    },
    Composite {
        /// The `pg_class` OID behind the type (comments on attributes are keyed by it).
        relid: u32,
        attributes: Vec<super::Attribute>,
    },
    Range {
        subtype: super::ColumnType,
        opclass: Option<String>,
        collation: Option<String>,
        canonical: Option<String>,
        subdiff: Option<String>,
        /// Its multirange type (14+).
        multirange: Option<super::ColumnType>,
    },
    Domain {
        /// The base type, with its modifier and dimensions.
        base: super::ColumnType,
        collation: Option<String>,
        default: Option<String>,
        not_null: bool,
        constraints: Vec<DomainCheck>,
    },
    /// A shell type never completed (`CREATE TYPE name;` alone).
    Shell,
    /// A base type with I/O functions: emitted as a shell type, then completed after them.
    Base {
        /// `CREATE TYPE … (` options `)` as `key = value` pairs, values already rendered.
        options: Vec<(String, String)>,
    },
}

/// A domain's CHECK constraint, or its NOT NULL one (17+ records those too).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DomainCheck {
    pub oid: u32,
    pub name: String,
    /// `pg_get_constraintdef`.
    pub definition: String,
    pub validated: bool,
    /// The domain's NOT NULL constraint (`contype` `n`), whose name and comment it carries.
    pub not_null: bool,
}

/// A function or procedure; `definition` is `pg_get_functiondef`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Function {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `f` function, `p` procedure, `w` window.
    pub kind: char,
    /// `pg_get_functiondef`, as the source printed it.
    pub definition: String,
    /// The arguments one by one (including `OUT` and `TABLE` columns), so that pgmove quotes
    /// their names itself: an older server prints a name bare that a newer one reads as a
    /// keyword (`json` became one in 16).
    pub arguments: Vec<Argument>,
    /// `pg_get_function_arguments` and `pg_get_function_result` as the source printed them: the
    /// spans of `definition` that the renderer re-writes from `arguments`.
    pub server_arguments: String,
    pub server_result: String,
    /// `prorettype`: what it returns (`void` for nothing, `record` for `RETURNS TABLE` or
    /// several `OUT` arguments), None when the catalog records no type.
    pub result: Option<super::ColumnType>,
    /// `proretset`: `RETURNS SETOF` (or `TABLE`).
    pub returns_set: bool,
    pub acl: Option<Vec<String>>,
    pub owner: String,
}

/// One argument of a function or procedure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Argument {
    /// `i` IN, `o` OUT, `b` INOUT, `v` VARIADIC, `t` a `RETURNS TABLE` column.
    pub mode: char,
    /// Empty when the argument has no name.
    pub name: String,
    pub ty: super::ColumnType,
    /// `pg_get_function_arg_default`.
    pub default: Option<String>,
}

/// An aggregate, rendered from `pg_aggregate`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Aggregate {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `pg_get_function_arguments` (with ORDER BY for ordered-set aggregates).
    pub arguments: String,
    pub identity_args: String,
    /// The argument types alone (`proargtypes`), as `GRANT … ON FUNCTION` names an
    /// aggregate: an ordered-set aggregate's `ORDER BY` is not allowed there.
    pub argument_types: Vec<super::ColumnType>,
    /// `STYPE`: the state type (`aggtranstype`).
    pub state_type: super::ColumnType,
    /// `MSTYPE`: the moving-aggregate state type (`aggmtranstype`), when it has one.
    pub moving_state_type: Option<super::ColumnType>,
    /// `(key, value)` options in `CREATE AGGREGATE` order, values rendered, but for `STYPE`
    /// and `MSTYPE` (the fields above), which follow `SFUNC` and `MINVFUNC`.
    pub options: Vec<(String, String)>,
    pub acl: Option<Vec<String>>,
    pub owner: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Operator {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// The operand types, None where it has none (a prefix operator's left one).
    pub left: Option<super::ColumnType>,
    pub right: Option<super::ColumnType>,
    /// Rendered options: FUNCTION, LEFTARG, RIGHTARG, COMMUTATOR, NEGATOR, RESTRICT, JOIN,
    /// HASHES, MERGES.
    pub options: Vec<(String, String)>,
}

/// `CREATE ACCESS METHOD` (user-defined only: the built-in ones exist everywhere).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AccessMethod {
    pub oid: u32,
    pub name: String,
    /// `t` table, `i` index.
    pub kind: char,
    /// The handler function, qualified (`regproc`).
    pub handler: String,
}

/// An operator of an operator class or family (a `pg_amop` row).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OpMember {
    pub strategy: i16,
    /// `name(left,right)` as `regoperator` prints it (qualified outside `pg_catalog`).
    pub operator: String,
    /// For an ordering operator (`FOR ORDER BY`): its sort family, qualified.
    pub order_by: Option<String>,
}

/// A support function of an operator class or family (a `pg_amproc` row).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FuncMember {
    pub number: i16,
    /// The operand types it supports.
    pub left: super::ColumnType,
    pub right: super::ColumnType,
    /// `name(args)` as `regprocedure` prints it.
    pub function: String,
}

/// `CREATE OPERATOR FAMILY`, with the members that belong to the family alone (added with
/// `ALTER OPERATOR FAMILY … ADD`); members of its classes go with the classes.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OpFamily {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// The access method's name.
    pub method: String,
    pub operators: Vec<OpMember>,
    pub functions: Vec<FuncMember>,
}

/// `CREATE OPERATOR CLASS`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OpClass {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub method: String,
    /// The indexed type.
    pub input_type: super::ColumnType,
    pub default: bool,
    /// The family's schema and name.
    pub family: (String, String),
    /// `STORAGE`: the type stored in the index, when it differs from the input type.
    pub storage: Option<super::ColumnType>,
    pub operators: Vec<OpMember>,
    pub functions: Vec<FuncMember>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Cast {
    pub oid: u32,
    pub source: super::ColumnType,
    pub target: super::ColumnType,
    /// `f` function, `i` inout, `b` binary.
    pub method: char,
    pub function: Option<String>,
    /// `e` explicit, `a` assignment, `i` implicit.
    pub context: char,
}

/// `CREATE PROCEDURAL LANGUAGE` (made by users, not by an extension).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Language {
    pub oid: u32,
    pub name: String,
    pub trusted: bool,
    /// Handler, inline handler and validator functions, qualified (`regproc`).
    pub handler: Option<String>,
    pub inline: Option<String>,
    pub validator: Option<String>,
    pub acl: Option<Vec<String>>,
    pub owner: String,
}

/// `CREATE TRANSFORM FOR type LANGUAGE lang (…)`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Transform {
    pub oid: u32,
    /// The type it is for.
    pub ty: super::ColumnType,
    pub language: String,
    /// `regprocedure` of each function, when set.
    pub from_sql: Option<String>,
    pub to_sql: Option<String>,
}

/// `CREATE [DEFAULT] CONVERSION`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Conversion {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub from_encoding: String,
    pub to_encoding: String,
    /// `regproc`.
    pub function: String,
    pub default: bool,
}

/// A text search parser (`kind` `P`: its functions are start, gettoken, end, lextypes,
/// headline) or template (`kind` `T`: init, lexize), with its functions as `(option, regproc)`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TextSearchPart {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub kind: char,
    pub functions: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TextSearchConfig {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub parser: String,
    /// (token type alias, dictionaries in order)
    pub mappings: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TextSearchDict {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub template: String,
    pub options: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ForeignDataWrapper {
    pub oid: u32,
    pub name: String,
    pub handler: Option<String>,
    pub validator: Option<String>,
    pub options: Vec<String>,
    pub acl: Option<Vec<String>>,
    pub owner: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ForeignServer {
    pub oid: u32,
    pub name: String,
    pub wrapper: String,
    pub server_type: Option<String>,
    pub version: Option<String>,
    pub options: Vec<String>,
    pub user_mappings: Vec<(String, Vec<String>)>,
    pub acl: Option<Vec<String>>,
    pub owner: String,
}

/// Privileges changed on an object pgmove does not create (a `pg_catalog` table, column or
/// function, an extension's language): what it has, against what it had when it was made
/// (`pg_init_privs`), or its owner's defaults when nothing was recorded.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SystemAcl {
    /// `TABLE`, `FUNCTION` or `LANGUAGE`.
    pub kind: String,
    /// Qualified name (with the argument types of a function).
    pub target: String,
    pub column: Option<String>,
    pub acl: Vec<String>,
    /// `pg_init_privs.initprivs`, when recorded.
    pub initial: Option<Vec<String>>,
    pub owner: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EventTrigger {
    pub oid: u32,
    pub name: String,
    pub event: String,
    pub tags: Vec<String>,
    pub function: String,
    pub enabled: char,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Publication {
    pub oid: u32,
    pub name: String,
    pub all_tables: bool,
    pub tables: Vec<PublicationTable>,
    /// `TABLES IN SCHEMA` (15+), quoted.
    pub schemas: Vec<String>,
    pub publish: Vec<String>,
    /// `publish_via_partition_root` (13+).
    pub via_root: bool,
    /// `publish_generated_columns` (18+): `s` stored, `n` none (the default).
    pub generated_columns: Option<char>,
}

/// `CREATE SUBSCRIPTION`, made on the target without connecting (as pg_dump does).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Subscription {
    pub oid: u32,
    pub name: String,
    pub conninfo: String,
    pub slot_name: Option<String>,
    pub publications: Vec<String>,
    /// `WITH` options other than the defaults, as `(name, value)`, values rendered.
    pub options: Vec<(String, String)>,
}

/// A table a publication names, with its column list and row filter (15+).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PublicationTable {
    /// Qualified and quoted.
    pub table: String,
    /// Quoted column names, when the publication lists them.
    pub columns: Option<Vec<String>>,
    /// `pg_get_expr` of the row filter.
    pub row_filter: Option<String>,
}

/// `ALTER DEFAULT PRIVILEGES` entry.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DefaultPrivilege {
    pub role: String,
    pub schema: Option<String>,
    /// `r` tables, `S` sequences, `f` functions, `T` types, `n` schemas.
    pub objtype: char,
    pub acl: Vec<String>,
}

/// `SECURITY LABEL FOR provider ON objtype objname IS label` (from `pg_seclabels`, whose
/// `objname` the server already quotes and qualifies).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SecurityLabel {
    /// The labelled object (for ordering after it).
    pub class: u32,
    pub oid: u32,
    /// `table`, `column`, `function`, `schema`… as `pg_seclabels.objtype` says.
    pub objtype: String,
    pub objname: String,
    pub provider: String,
    pub label: String,
}
