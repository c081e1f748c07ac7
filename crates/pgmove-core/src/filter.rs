//! Object filters as pg_dump reads them: `-n/--schema`, `-N/--exclude-schema`, `-t/--table`,
//! `-T/--exclude-table`, with psql's pattern rules.
//!
//! A filter chooses among rendered [`Item`]s, so pre-data, sequences and post-data of one run
//! always agree. What depends on a left-out object is left out too, with a warning, instead of
//! failing on the target later. Filters never change what an item says, only whether it runs.

use crate::model::{class, Catalog, ObjRef};
use crate::render::{Item, Kind};
use crate::{Error, Result};
use std::collections::HashSet;

/// One name pattern: psql's rules. Outside double quotes, letters fold to lower case, `*`
/// matches any run of characters and `?` any one; inside double quotes everything is literal
/// (`""` is a quote). Other characters match themselves (psql would read them as regular
/// expression syntax; pgmove takes them literally).
#[derive(Debug, Clone, PartialEq)]
pub struct NamePattern(Vec<Tok>);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Any,
    One,
    Lit(char),
}

impl NamePattern {
    /// Whether `name` (as stored in the catalog) matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        fn go(p: &[Tok], s: &[char]) -> bool {
            match p.split_first() {
                None => s.is_empty(),
                Some((Tok::Any, rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
                Some((Tok::One, rest)) => !s.is_empty() && go(rest, &s[1..]),
                Some((Tok::Lit(c), rest)) => s.first() == Some(c) && go(rest, &s[1..]),
            }
        }
        let chars: Vec<char> = name.chars().collect();
        go(&self.0, &chars)
    }
}

/// Split a pattern at its unquoted dots into name patterns (`schema.table` → two parts).
fn parse_parts(pattern: &str) -> Result<Vec<NamePattern>> {
    let mut parts = vec![Vec::new()];
    let mut chars = pattern.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let cur = parts.last_mut().expect("one part at least");
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push(Tok::Lit('"'));
            }
            ('"', _) => quoted = !quoted,
            (c, true) => cur.push(Tok::Lit(c)),
            ('.', false) => parts.push(Vec::new()),
            ('*', false) => cur.push(Tok::Any),
            ('?', false) => cur.push(Tok::One),
            (c, false) => cur.extend(c.to_lowercase().map(Tok::Lit)),
        }
    }
    if quoted {
        return Err(Error::Invalid(format!(
            "pattern {pattern:?} has an unterminated double quote"
        )));
    }
    Ok(parts.into_iter().map(NamePattern).collect())
}

/// A `-t` pattern: an optional schema part and a name part.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePattern {
    pub schema: Option<NamePattern>,
    pub name: NamePattern,
}

impl TablePattern {
    pub fn parse(pattern: &str) -> Result<TablePattern> {
        let mut parts = parse_parts(pattern)?;
        match parts.len() {
            1 => Ok(TablePattern {
                schema: None,
                name: parts.remove(0),
            }),
            2 => {
                let name = parts.remove(1);
                Ok(TablePattern {
                    schema: Some(parts.remove(0)),
                    name,
                })
            }
            _ => Err(Error::Invalid(format!(
                "table pattern {pattern:?} has too many dotted parts (schema.table at most)"
            ))),
        }
    }
    /// Whether relation `schema.name` matches.
    pub fn matches(&self, schema: &str, name: &str) -> bool {
        self.schema.as_ref().is_none_or(|s| s.matches(schema)) && self.name.matches(name)
    }
}

/// Parse a `-n` pattern (one part: no database or dotted names).
pub fn schema_pattern(pattern: &str) -> Result<NamePattern> {
    let mut parts = parse_parts(pattern)?;
    if parts.len() != 1 {
        return Err(Error::Invalid(format!(
            "schema pattern {pattern:?} must not contain an unquoted dot"
        )));
    }
    Ok(parts.remove(0))
}

/// What [`Filter`] decided about a catalog's relations.
struct RelationSets<'c> {
    /// (OID, schema, name) of every table, view and sequence.
    relations: Vec<(u32, &'c str, &'c str)>,
    all: HashSet<u32>,
    picked: HashSet<u32>,
    excluded: HashSet<u32>,
}

/// The four pg_dump filters. Empty lists mean "no such filter".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub schemas: Vec<NamePattern>,
    pub exclude_schemas: Vec<NamePattern>,
    pub tables: Vec<TablePattern>,
    pub exclude_tables: Vec<TablePattern>,
}

impl Filter {
    /// Build from the command line's pattern strings.
    pub fn parse(
        schemas: &[String],
        exclude_schemas: &[String],
        tables: &[String],
        exclude_tables: &[String],
    ) -> Result<Filter> {
        Ok(Filter {
            schemas: schemas
                .iter()
                .map(|p| schema_pattern(p))
                .collect::<Result<_>>()?,
            exclude_schemas: exclude_schemas
                .iter()
                .map(|p| schema_pattern(p))
                .collect::<Result<_>>()?,
            tables: tables
                .iter()
                .map(|p| TablePattern::parse(p))
                .collect::<Result<_>>()?,
            exclude_tables: exclude_tables
                .iter()
                .map(|p| TablePattern::parse(p))
                .collect::<Result<_>>()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
            && self.exclude_schemas.is_empty()
            && self.tables.is_empty()
            && self.exclude_tables.is_empty()
    }

    fn schema_excluded(&self, schema: &str) -> bool {
        self.exclude_schemas.iter().any(|p| p.matches(schema))
    }

    /// Relations (tables, views, sequences) with what `-t` picks and what `-N`/`-T` exclude;
    /// a sequence owned by a table follows it, as in pg_dump.
    fn relation_sets<'c>(&self, cat: &'c Catalog) -> RelationSets<'c> {
        let mut relations: Vec<(u32, &str, &str)> = Vec::new();
        relations.extend(
            cat.tables
                .iter()
                .map(|t| (t.oid, t.schema.as_str(), t.name.as_str())),
        );
        relations.extend(
            cat.views
                .iter()
                .map(|v| (v.oid, v.schema.as_str(), v.name.as_str())),
        );
        relations.extend(
            cat.sequences
                .iter()
                .map(|s| (s.oid, s.schema.as_str(), s.name.as_str())),
        );
        let all: HashSet<u32> = relations.iter().map(|r| r.0).collect();
        let mut picked: HashSet<u32> = relations
            .iter()
            .filter(|(_, schema, name)| self.tables.iter().any(|p| p.matches(schema, name)))
            .map(|r| r.0)
            .collect();
        let mut excluded_relations: HashSet<u32> = relations
            .iter()
            .filter(|(_, schema, name)| {
                self.schema_excluded(schema)
                    || self.exclude_tables.iter().any(|p| p.matches(schema, name))
            })
            .map(|r| r.0)
            .collect();
        // A sequence OWNED BY a column follows its table, as in pg_dump.
        for s in &cat.sequences {
            if let Some(table) = s.owned_by.as_ref().map(|o| &o.table_oid) {
                if picked.contains(table) {
                    picked.insert(s.oid);
                }
                if excluded_relations.contains(table) {
                    excluded_relations.insert(s.oid);
                }
            }
        }

        RelationSets {
            relations,
            all,
            picked,
            excluded: excluded_relations,
        }
    }

    /// The OIDs of the relations (tables, views, sequences) this filter keeps, for callers
    /// that choose among catalog objects rather than rendered items (validation).
    pub fn relations(&self, cat: &Catalog) -> HashSet<u32> {
        let sets = self.relation_sets(cat);
        sets.relations
            .iter()
            .filter(|(oid, schema, _)| {
                (self.schemas.is_empty() || self.schemas.iter().any(|p| p.matches(schema)))
                    && (self.tables.is_empty() || sets.picked.contains(oid))
                    && !sets.excluded.contains(oid)
            })
            .map(|r| r.0)
            .collect()
    }

    /// Keep the items the filters select, as pg_dump would: with `-t`, only the matching
    /// tables, views and sequences and what hangs off them (indexes, triggers, defaults…);
    /// with `-n`, what lives in the matching schemas; then less what `-N` and `-T` exclude.
    /// Anything that depends on an excluded object is left out too, each with a warning.
    /// (Objects merely not selected by `-n`/`-t`, such as a type a selected table uses, are
    /// expected on the target already, as with pg_dump.)
    /// Warnings come with the kind of the item left out, so each step reports its own.
    pub fn apply(&self, cat: &Catalog, items: Vec<Item>) -> (Vec<Item>, Vec<(Kind, String)>) {
        if self.is_empty() {
            return (items, Vec::new());
        }
        let sets = self.relation_sets(cat);
        let (relations, all_relations, picked, excluded_relations) =
            (&sets.relations, &sets.all, &sets.picked, &sets.excluded);
        let relation_name = |oid: u32| {
            relations
                .iter()
                .find(|r| r.0 == oid)
                .map(|(_, s, n)| crate::quote::qualified(s, n))
                .unwrap_or_default()
        };
        let is_relation = |r: &ObjRef| r.class == class::PG_CLASS && all_relations.contains(&r.oid);

        let mut keep = Vec::with_capacity(items.len());
        // Left out by -N/-T (or because they depend on such): their dependents go too.
        let mut excluded = Vec::with_capacity(items.len());
        let mut warnings = Vec::new();
        for it in &items {
            // The relations an item is part of (what it creates or acts on), and those it
            // only refers to (a foreign key's referenced table, an attachment's parent).
            let mut own: Vec<u32> = it
                .provides
                .iter()
                .filter(|r| is_relation(r))
                .map(|r| r.oid)
                .collect();
            own.extend(it.table);
            let refs: Vec<u32> = it
                .after
                .iter()
                .filter(|r| is_relation(r) && !own.contains(&r.oid))
                .map(|r| r.oid)
                .collect();
            let selected = if !self.tables.is_empty() {
                // As pg_dump -t: a picked table's foreign keys come along even when the table
                // they reference is not picked (the target is expected to have it).
                !own.is_empty() && own.iter().all(|r| picked.contains(r))
            } else if !self.schemas.is_empty() {
                !it.schema.is_empty() && self.schemas.iter().any(|p| p.matches(&it.schema))
            } else {
                true
            };
            let own_excluded = (!it.schema.is_empty() && self.schema_excluded(&it.schema))
                || own.iter().any(|r| excluded_relations.contains(r));
            let ref_excluded = refs.iter().find(|r| excluded_relations.contains(r));
            if let (true, false, Some(r)) = (selected, own_excluded, ref_excluded) {
                warnings.push((
                    it.kind,
                    format!(
                        "left out {}: it refers to {}, which the filters leave out",
                        it.name,
                        relation_name(*r)
                    ),
                ));
            }
            keep.push(selected && !own_excluded && ref_excluded.is_none());
            excluded.push(own_excluded || ref_excluded.is_some());
        }

        let deps = crate::sort::dependencies(cat, &items);
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..items.len() {
                if !keep[i] {
                    continue;
                }
                if let Some(j) = deps
                    .of(i)
                    .iter()
                    .map(|&j| j as usize)
                    .find(|&j| !keep[j] && excluded[j])
                {
                    keep[i] = false;
                    excluded[i] = true;
                    changed = true;
                    // Parts of another object (its state, definition, default, privileges,
                    // ownership, attachment) follow it silently; whole objects are named.
                    let part = matches!(
                        items[i].kind,
                        Kind::SequenceSet
                            | Kind::ViewDefinition
                            | Kind::ViewRedefinition
                            | Kind::Default
                            | Kind::SequenceOwnedBy
                            | Kind::Acl
                            | Kind::TableAttach
                            | Kind::IndexAttach
                            | Kind::MatviewRefresh
                    );
                    if !part {
                        warnings.push((
                            items[i].kind,
                            format!(
                                "left out {}: it depends on {}, which the filters leave out",
                                items[i].name, items[j].name
                            ),
                        ));
                    }
                }
            }
        }
        let kept = items
            .into_iter()
            .zip(keep)
            .filter_map(|(it, k)| k.then_some(it))
            .collect();
        (kept, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_psql() {
        let p = schema_pattern("Pub*").unwrap();
        assert!(p.matches("public") && p.matches("pub") && !p.matches("Public"));
        let q = schema_pattern("\"Odd Schema\"").unwrap();
        assert!(q.matches("Odd Schema") && !q.matches("odd schema"));
        let t = TablePattern::parse("app.film?").unwrap();
        assert!(t.matches("app", "films") && !t.matches("app", "film") && !t.matches("x", "films"));
        let t = TablePattern::parse("\"a.b\"").unwrap();
        assert!(t.schema.is_none() && t.matches("any", "a.b"));
        let t = TablePattern::parse("\"we\"\"ird\"").unwrap();
        assert!(t.matches("s", "we\"ird"));
        assert!(schema_pattern("a.b").is_err());
        assert!(TablePattern::parse("a.b.c").is_err());
        assert!(TablePattern::parse("\"open").is_err());
    }
}
