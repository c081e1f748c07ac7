//! The one place pgmove quotes identifiers, literals and bodies. Every name and value that reaches
//! SQL text goes through here; nothing else concatenates user data into SQL.

/// Keywords that cannot stand as a bare identifier in every position (PostgreSQL's reserved,
/// type/function-name and column-name categories, as of version 18). Unreserved keywords are
/// legal identifiers and stay bare, as pg_dump leaves them.
const KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_table",
    "json_value",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "merge_action",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Where the keywords of each first letter `a`..=`z` begin in [`KEYWORDS`] (the next letter's
/// entry is where they end): [`is_keyword`] compares a name with a few keywords of its letter,
/// not with a binary search's worth of the whole list.
const BY_FIRST: [u8; 27] = {
    let mut starts = [0u8; 27];
    let mut letter = 0;
    let mut i = 0;
    while letter < 26 {
        while i < KEYWORDS.len() && KEYWORDS[i].as_bytes()[0] < b'a' + letter as u8 {
            i += 1;
        }
        starts[letter] = i as u8;
        letter += 1;
    }
    starts[26] = KEYWORDS.len() as u8;
    starts
};

/// Whether `name` (already known to be `[a-z_][a-z0-9_]*`) is in [`KEYWORDS`].
fn is_keyword(name: &str) -> bool {
    let Some(first) = name.bytes().next().filter(u8::is_ascii_lowercase) else {
        return false;
    };
    let letter = (first - b'a') as usize;
    let range = BY_FIRST[letter] as usize..BY_FIRST[letter + 1] as usize;
    // Lengths differ for most, so most comparisons end before looking at a byte.
    KEYWORDS[range]
        .iter()
        .any(|k| k.len() == name.len() && *k == name)
}

/// Whether the identifier can stand without quotes.
fn is_bare(name: &str) -> bool {
    let b = name.as_bytes();
    matches!(b.first(), Some(c) if c.is_ascii_lowercase() || *c == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !is_keyword(name)
}

/// Append `name` to `out`, quoted as [`ident`] quotes it: renderers that build a statement
/// piece by piece add names without a string each.
pub fn push_ident(out: &mut String, name: &str) {
    if is_bare(name) {
        out.push_str(name);
        return;
    }
    out.push('"');
    let mut parts = name.split('"');
    out.push_str(parts.next().unwrap_or(""));
    for part in parts {
        out.push_str("\"\"");
        out.push_str(part);
    }
    out.push('"');
}

/// Quote an identifier when it needs it: anything but `[a-z_][a-z0-9_]*` that is not a keyword
/// gets double quotes, with embedded double quotes doubled.
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_ident(&mut out, name);
    out
}

/// `schema.name`, each part quoted as needed.
pub fn qualified(schema: &str, name: &str) -> String {
    let mut out = String::with_capacity(schema.len() + name.len() + 5);
    push_qualified(&mut out, schema, name);
    out
}

/// Append [`qualified`]`(schema, name)` to `out`.
pub fn push_qualified(out: &mut String, schema: &str, name: &str) {
    push_ident(out, schema);
    out.push('.');
    push_ident(out, name);
}

/// A string literal that means the same whatever `standard_conforming_strings` is: single quotes
/// doubled, and when the text holds a backslash, the `E'…'` form with backslashes doubled.
pub fn literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// A dollar-quoted string whose tag does not occur in `body`, so any body is safe inside it.
pub fn dollar(body: &str) -> String {
    let mut tag = String::from("$");
    let mut n = 0usize;
    loop {
        let delim = format!("{tag}$");
        // The body must not contain the delimiter, nor end with a `$` that could join it.
        if !body.contains(&delim) {
            return format!("{delim}{body}{delim}");
        }
        n += 1;
        tag = format!("$_{n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keywords_sorted_lowercase_for_the_first_letter_index() {
        let mut sorted = KEYWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, KEYWORDS);
        assert!(KEYWORDS
            .iter()
            .all(|k| k.as_bytes()[0].is_ascii_lowercase()));
        for k in KEYWORDS {
            assert!(is_keyword(k), "{k}");
            assert!(!is_bare(k), "{k}");
        }
        for not in [
            "a", "z", "alll", "zone", "xml", "_all", "name", "users", "yes",
        ] {
            assert!(!is_keyword(not), "{not}");
        }
    }

    #[test]
    fn idents() {
        assert_eq!(ident("film"), "film");
        assert_eq!(ident("Film"), "\"Film\"");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("a b"), "\"a b\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(ident("1abc"), "\"1abc\"");
        assert_eq!(ident("naïve"), "\"naïve\"");
        assert_eq!(ident(""), "\"\"");
        assert_eq!(ident("name"), "name"); // unreserved keyword stays bare
    }

    #[test]
    fn literals() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\b"), r"E'a\\b'");
    }

    #[test]
    fn dollar_tags_avoid_body() {
        assert_eq!(dollar("select 1"), "$$select 1$$");
        assert_eq!(dollar("a $$ b"), "$_1$a $$ b$_1$");
    }

    /// Undo [`ident`]: what the server's lexer would read back.
    fn unquote_ident(q: &str) -> String {
        match q.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => q.to_string(),
        }
    }

    proptest! {
        #[test]
        fn ident_round_trips(name in "\\PC{0,63}") {
            let q = ident(&name);
            prop_assert_eq!(unquote_ident(&q), name.clone());
            if !q.starts_with('"') {
                prop_assert!(q.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            }
        }

        #[test]
        fn hostile_idents_always_quoted(name in "[a-z]{0,5}[\" .;A-Z'-][a-z ]{0,5}") {
            prop_assert!(ident(&name).starts_with('"'));
        }

        #[test]
        fn literal_has_no_lone_quote(value in "\\PC{0,64}") {
            let l = literal(&value);
            let inner = l.trim_start_matches('E');
            let inner = &inner[1..inner.len() - 1];
            prop_assert!(!inner.replace("''", "").contains('\''));
        }

        #[test]
        fn dollar_body_never_contains_tag(body in "[$_1a ]{0,40}") {
            let q = dollar(&body);
            let end = q[1..].find('$').unwrap() + 2;
            let tag = &q[..end];
            prop_assert!(!body.contains(tag));
            prop_assert_eq!(&q[tag.len()..q.len() - tag.len()], body.as_str());
        }
    }
}
