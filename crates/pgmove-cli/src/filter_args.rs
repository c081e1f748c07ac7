//! pg_dump's object filters as command-line arguments, shared by every subcommand that reads
//! a catalog, so `schema`, `sequences`, `post-data` and `validate` accept the same patterns.

use clap::Args;
use pgmove_core::filter::Filter;

#[derive(Args, Debug, Clone)]
pub struct FilterArgs {
    /// Only schemas matching PATTERN (repeatable; psql patterns: * ? "Quoted").
    #[arg(short = 'n', long = "schema", value_name = "PATTERN")]
    schemas: Vec<String>,
    /// Leave out schemas matching PATTERN, and what depends on them.
    #[arg(short = 'N', long = "exclude-schema", value_name = "PATTERN")]
    exclude_schemas: Vec<String>,
    /// Only tables, views and sequences matching [SCHEMA.]PATTERN and what hangs off them.
    #[arg(short = 't', long = "table", value_name = "PATTERN")]
    tables: Vec<String>,
    /// Leave out tables matching [SCHEMA.]PATTERN, and what depends on them.
    #[arg(short = 'T', long = "exclude-table", value_name = "PATTERN")]
    exclude_tables: Vec<String>,
}

impl FilterArgs {
    /// The core filter; a malformed pattern is one clear error.
    pub fn filter(&self) -> pgmove_core::Result<Filter> {
        Filter::parse(
            &self.schemas,
            &self.exclude_schemas,
            &self.tables,
            &self.exclude_tables,
        )
    }

    /// The same patterns for `pgmove dms plan`'s table selection.
    #[cfg(feature = "dms")]
    pub fn dms_filters(&self) -> pgmove_dms::plan::Filters {
        pgmove_dms::plan::Filters {
            include_schemas: self.schemas.clone(),
            exclude_schemas: self.exclude_schemas.clone(),
            include_tables: self.tables.clone(),
            exclude_tables: self.exclude_tables.clone(),
        }
    }
}
