//! Parsing libpq connection strings: `postgres://` / `postgresql://` URIs and `key=value`
//! conninfo strings, into keyword/value pairs checked against libpq's keyword list.
//!
//! This module only parses: it never reads the environment or files, never connects, and never
//! puts a password (or any part of one) into an error message.

use crate::{Error, Result};
use std::collections::BTreeMap;

/// How pgmove treats a libpq keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Parsed and used.
    Used,
    /// Accepted like libpq does, but without effect (documented per keyword below).
    Ignored,
    /// A real libpq keyword whose meaning pgmove cannot honour: refused rather than silently
    /// connecting in a way the user did not ask for.
    Refused,
}

/// libpq's connection keywords and what pgmove does with each.
const KEYWORDS: &[(&str, Support)] = &[
    ("host", Support::Used),
    ("hostaddr", Support::Used),
    ("port", Support::Used),
    ("user", Support::Used),
    ("password", Support::Used),
    ("dbname", Support::Used),
    ("passfile", Support::Used),
    ("sslmode", Support::Used),
    ("sslrootcert", Support::Used),
    ("sslcert", Support::Used),
    ("sslkey", Support::Used),
    ("application_name", Support::Used),
    ("fallback_application_name", Support::Used),
    ("connect_timeout", Support::Used),
    ("options", Support::Used),
    // Mapped onto tokio-postgres' Any/ReadWrite/ReadOnly; libpq's finer values
    // (primary, standby, prefer-standby) are accepted and treated as `any`.
    ("target_session_attrs", Support::Used),
    ("keepalives", Support::Used),
    ("keepalives_idle", Support::Used),
    ("keepalives_interval", Support::Used),
    ("keepalives_count", Support::Used),
    ("tcp_user_timeout", Support::Used),
    ("channel_binding", Support::Used),
    // Accepted without effect: rustls always sends SNI for host names and never compresses;
    // pgmove has no GSSAPI (gssencmode=prefer, libpq's default, falls back to no GSS as well);
    // tokio-postgres always uses UTF8 as client encoding; CRLs and protocol bounds are not
    // checked (rustls only speaks TLS 1.2 and 1.3).
    ("sslsni", Support::Ignored),
    ("sslcompression", Support::Ignored),
    ("gssencmode", Support::Ignored),
    ("krbsrvname", Support::Ignored),
    ("gsslib", Support::Ignored),
    ("gssdelegation", Support::Ignored),
    ("client_encoding", Support::Ignored),
    ("sslcrl", Support::Ignored),
    ("sslcrldir", Support::Ignored),
    ("ssl_min_protocol_version", Support::Ignored),
    ("ssl_max_protocol_version", Support::Ignored),
    ("sslnegotiation", Support::Ignored),
    // Real libpq keywords with a meaning pgmove would silently drop: refused.
    ("service", Support::Refused),
    ("replication", Support::Refused),
    ("requirepeer", Support::Refused),
    ("require_auth", Support::Refused),
    ("sslpassword", Support::Refused),
    ("sslcertmode", Support::Refused),
    ("load_balance_hosts", Support::Refused),
];

/// The keyword's entry in [`KEYWORDS`], by its canonical (static) name.
pub(crate) fn keyword(name: &str) -> Option<(&'static str, Support)> {
    KEYWORDS.iter().find(|(k, _)| *k == name).copied()
}

/// Parsed keyword/value pairs, by canonical keyword; a later occurrence replaces an earlier one,
/// as in libpq.
#[derive(Default, Clone)]
pub(crate) struct Params {
    values: BTreeMap<&'static str, String>,
}

impl Params {
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(String::as_str)
    }
    /// The value when set and non-empty (libpq treats an empty value like an absent one for
    /// almost every keyword).
    pub(crate) fn nonempty(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }
    pub(crate) fn contains(&self, k: &str) -> bool {
        self.nonempty(k).is_some()
    }
    pub(crate) fn set(&mut self, k: &'static str, v: String) {
        self.values.insert(k, v);
    }
    /// Set `name` (checked against the keyword list) to `v`; `uri` picks libpq's wording.
    fn set_checked(&mut self, name: &str, v: String, uri: bool) -> Result<()> {
        match keyword(name) {
            Some((k, Support::Refused)) => Err(Error::Config(format!(
                "connection option \"{k}\" is not supported by pgmove"
            ))),
            Some((k, _)) => {
                self.values.insert(k, v);
                Ok(())
            }
            None if uri => Err(Error::Config(format!(
                "invalid URI query parameter: \"{name}\""
            ))),
            None => Err(Error::Config(format!(
                "invalid connection option \"{name}\""
            ))),
        }
    }
    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values.keys().copied()
    }
}

/// Parse a URI or `key=value` string. An empty string is valid and sets nothing.
pub(crate) fn parse(s: &str) -> Result<Params> {
    let uri = ["postgresql://", "postgres://"]
        .iter()
        .find_map(|prefix| s.strip_prefix(prefix));
    let params = match uri {
        Some(rest) => parse_uri(rest)?,
        None => parse_keyword_value(s)?,
    };
    check_single_host(&params)?;
    Ok(params)
}

/// libpq accepts comma-separated host lists; pgmove talks to exactly one server per side.
pub(crate) fn check_single_host(p: &Params) -> Result<()> {
    if ["host", "hostaddr", "port"]
        .iter()
        .any(|k| p.get(k).is_some_and(|v| v.contains(',')))
    {
        return Err(multiple_hosts());
    }
    Ok(())
}

fn is_space(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// libpq's `conninfo_parse`: `kw = value` pairs separated by whitespace; values are either bare
/// (up to whitespace, `\` escapes the next character) or single-quoted (`\'` and `\\` escapes).
fn parse_keyword_value(s: &str) -> Result<Params> {
    let mut out = Params::default();
    let mut it = s.chars().peekable();
    // Whether the last value parsed was a password: the next error must not echo a token, since
    // a password with an unquoted space spills into the next "keyword".
    let mut after_password = false;
    loop {
        while it.peek().is_some_and(|c| is_space(*c)) {
            it.next();
        }
        if it.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = it.peek() {
            if is_space(c) || c == '=' {
                break;
            }
            name.push(c);
            it.next();
        }
        while it.peek().is_some_and(|c| is_space(*c)) {
            it.next();
        }
        if it.next() != Some('=') {
            return Err(Error::Config(if after_password {
                "missing \"=\" after a word following the password (quote a password that \
                 contains spaces with single quotes)"
                    .into()
            } else {
                format!("missing \"=\" after \"{name}\" in connection info string")
            }));
        }
        while it.peek().is_some_and(|c| is_space(*c)) {
            it.next();
        }
        let mut value = String::new();
        if it.peek() == Some(&'\'') {
            it.next();
            loop {
                match it.next() {
                    None => {
                        return Err(Error::Config(
                            "unterminated quoted string in connection info string".into(),
                        ))
                    }
                    Some('\\') => match it.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(Error::Config(
                                "unterminated quoted string in connection info string".into(),
                            ))
                        }
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = it.peek() {
                if is_space(c) {
                    break;
                }
                it.next();
                if c == '\\' {
                    if let Some(n) = it.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if after_password && keyword(&name).is_none() {
            return Err(Error::Config(
                "invalid connection option following the password (quote a password that \
                 contains spaces with single quotes)"
                    .into(),
            ));
        }
        after_password = name == "password";
        out.set_checked(&name, value, false)?;
    }
    Ok(out)
}

/// libpq's `conninfo_uri_parse_options`, after the scheme:
/// `[user[:password]@][host][:port][/dbname][?param=value&...]`.
fn parse_uri(rest: &str) -> Result<Params> {
    let mut out = Params::default();
    let mut p = rest;

    // user[:password]@ — libpq looks for '@' before the first '/'.
    let userinfo_end = p.find(['@', '/']);
    if let Some(i) = userinfo_end.filter(|&i| p.as_bytes()[i] == b'@') {
        let userinfo = &p[..i];
        let (user, password) = match userinfo.find(':') {
            Some(j) => (&userinfo[..j], Some(&userinfo[j + 1..])),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            out.set("user", percent_decode(user, "user name")?);
        }
        if let Some(pw) = password.filter(|pw| !pw.is_empty()) {
            out.set("password", percent_decode_secret(pw)?);
        }
        p = &p[i + 1..];
    }

    // host: [ipv6] or up to ':', '/', '?'; a ',' would start a second host.
    let host;
    if let Some(after) = p.strip_prefix('[') {
        let close = after.find(']').ok_or_else(|| {
            Error::Config(
                "end of string reached when looking for matching \"]\" in IPv6 host address \
                 in URI"
                    .into(),
            )
        })?;
        if close == 0 {
            return Err(Error::Config(
                "IPv6 host address may not be empty in URI".into(),
            ));
        }
        host = &after[..close];
        p = &after[close + 1..];
        if let Some(c) = p
            .chars()
            .next()
            .filter(|c| !matches!(c, ':' | '/' | '?' | ','))
        {
            return Err(Error::Config(format!(
                "unexpected character \"{c}\" after IPv6 host address in URI (expected \":\" or \"/\")"
            )));
        }
    } else {
        let end = p.find([':', '/', '?', ',']).unwrap_or(p.len());
        host = &p[..end];
        p = &p[end..];
    }
    if !host.is_empty() {
        out.set("host", percent_decode(host, "host")?);
    }
    if let Some(after) = p.strip_prefix(':') {
        let end = after.find(['/', '?', ',']).unwrap_or(after.len());
        let port = &after[..end];
        if !port.is_empty() {
            out.set("port", percent_decode(port, "port")?);
        }
        p = &after[end..];
    }
    if p.starts_with(',') {
        return Err(multiple_hosts());
    }
    if let Some(after) = p.strip_prefix('/') {
        let end = after.find('?').unwrap_or(after.len());
        let db = &after[..end];
        if !db.is_empty() {
            out.set("dbname", percent_decode(db, "database name")?);
        }
        p = &after[end..];
    }
    if let Some(query) = p.strip_prefix('?') {
        for pair in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::Config(format!(
                    "missing key/value separator \"=\" in URI query parameter: \"{}\"",
                    if pair.starts_with("password") {
                        "password"
                    } else {
                        pair
                    }
                ))
            })?;
            let k = percent_decode(k, "query parameter name")?;
            if v.contains('=') {
                return Err(Error::Config(format!(
                    "extra key/value separator \"=\" in URI query parameter: \"{k}\""
                )));
            }
            let v = if k == "password" {
                percent_decode_secret(v)?
            } else {
                percent_decode(v, &k)?
            };
            // libpq's JDBC compatibility: ssl=true means sslmode=require.
            if k == "ssl" && v == "true" {
                out.set("sslmode", "require".into());
                continue;
            }
            out.set_checked(&k, v, true)?;
        }
    }
    Ok(out)
}

pub(crate) fn multiple_hosts() -> Error {
    Error::Config("multiple hosts are not supported by pgmove; give one host".into())
}

/// Percent-decode a URI component; `what` names it in errors.
fn percent_decode(s: &str, what: &str) -> Result<String> {
    decode(s).map_err(|e| match e {
        DecodeError::Invalid => {
            Error::Config(format!("invalid percent-encoded token in {what}: \"{s}\""))
        }
        DecodeError::Nul => Error::Config(format!(
            "forbidden value %00 in percent-encoded value in {what}: \"{s}\""
        )),
        DecodeError::Utf8 => Error::Config(format!("{what} is not valid UTF-8: \"{s}\"")),
    })
}

/// Percent-decode a password: errors never show it.
fn percent_decode_secret(s: &str) -> Result<String> {
    decode(s).map_err(|e| {
        Error::Config(
            match e {
                DecodeError::Invalid => "invalid percent-encoded token in the password",
                DecodeError::Nul => "forbidden value %00 in the password",
                DecodeError::Utf8 => "the password is not valid UTF-8 once percent-decoded",
            }
            .into(),
        )
    })
}

enum DecodeError {
    Invalid,
    Nul,
    Utf8,
}

fn decode(s: &str) -> std::result::Result<String, DecodeError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) else {
                return Err(DecodeError::Invalid);
            };
            let v = (h * 16 + l) as u8;
            if v == 0 {
                return Err(DecodeError::Nul);
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Params) -> Vec<(String, String)> {
        p.keys()
            .map(|k| (k.to_string(), p.get(k).unwrap().to_string()))
            .collect()
    }

    fn ok(s: &str) -> Vec<(String, String)> {
        match parse(s) {
            Ok(p) => pairs(&p),
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = v
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn accepts_what_libpq_accepts() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("   ", &[]),
            ("host=db port=5433", &[("host", "db"), ("port", "5433")]),
            ("host = db\tport= 5433 ", &[("host", "db"), ("port", "5433")]),
            ("password='a b\\'c\\\\d'", &[("password", "a b'c\\d")]),
            ("password=''", &[("password", "")]),
            ("options='-c search_path=x'", &[("options", "-c search_path=x")]),
            ("dbname=a\\ b", &[("dbname", "a b")]),
            ("host=a host=b", &[("host", "b")]),
            ("sslmode=verify-full sslrootcert=/x/ca.pem application_name=pgmove connect_timeout=3 target_session_attrs=read-write keepalives=1 passfile=/p hostaddr=127.0.0.1 user=u sslcert=c sslkey=k",
             &[("sslmode", "verify-full"), ("sslrootcert", "/x/ca.pem"), ("application_name", "pgmove"),
               ("connect_timeout", "3"), ("target_session_attrs", "read-write"), ("keepalives", "1"),
               ("passfile", "/p"), ("hostaddr", "127.0.0.1"), ("user", "u"), ("sslcert", "c"), ("sslkey", "k")]),
            ("gssencmode=disable", &[("gssencmode", "disable")]),
            ("postgres://", &[]),
            ("postgresql://", &[]),
            ("postgres://db.example.com", &[("host", "db.example.com")]),
            ("postgresql://u:p%40ss@db:6432/app?sslmode=require&application_name=x%20y",
             &[("user", "u"), ("password", "p@ss"), ("host", "db"), ("port", "6432"),
               ("dbname", "app"), ("sslmode", "require"), ("application_name", "x y")]),
            ("postgres://u@/app", &[("user", "u"), ("dbname", "app")]),
            ("postgres://:5433", &[("port", "5433")]),
            ("postgres:///app?host=/var/run/postgresql", &[("dbname", "app"), ("host", "/var/run/postgresql")]),
            ("postgres://%2Ftmp/app", &[("host", "/tmp"), ("dbname", "app")]),
            ("postgres://[::1]:5433/app", &[("host", "::1"), ("port", "5433"), ("dbname", "app")]),
            ("postgres://[::1]", &[("host", "::1")]),
            ("postgres://h/db?ssl=true", &[("host", "h"), ("dbname", "db"), ("sslmode", "require")]),
            ("postgres://h/d%C3%A9", &[("host", "h"), ("dbname", "dé")]),
            ("postgres://u:@h", &[("user", "u"), ("host", "h")]),
            ("postgres://h?", &[("host", "h")]),
            ("postgres://h/db?user=x&port=7", &[("host", "h"), ("dbname", "db"), ("user", "x"), ("port", "7")]),
        ];
        for (s, want) in cases {
            assert_eq!(ok(s), kv(want), "{s:?}");
        }
    }

    #[test]
    fn rejects_what_libpq_rejects() {
        let cases: &[(&str, &str)] = &[
            ("mydb", "missing \"=\" after \"mydb\""),
            ("host", "missing \"=\" after \"host\""),
            ("host=a b", "missing \"=\" after \"b\""),
            ("password='abc", "unterminated quoted string"),
            ("password='abc\\", "unterminated quoted string"),
            ("hots=db", "invalid connection option \"hots\""),
            ("service=prod", "\"service\" is not supported"),
            (
                "postgres://h/db?foo=1",
                "invalid URI query parameter: \"foo\"",
            ),
            ("postgres://h/db?sslmode", "missing key/value separator"),
            ("postgres://h/db?sslmode=a=b", "extra key/value separator"),
            (
                "postgres://h/d%zz",
                "invalid percent-encoded token in database name",
            ),
            ("postgres://h/d%00", "forbidden value %00"),
            ("postgres://[::1", "matching \"]\""),
            ("postgres://[]/db", "may not be empty"),
            ("postgres://[::1]x/db", "unexpected character \"x\""),
            ("postgres://a,b/db", "multiple hosts"),
            ("postgres://a:1,b:2/db", "multiple hosts"),
            ("host=a,b", "multiple hosts"),
        ];
        for (s, want) in cases {
            match parse(s) {
                Ok(p) => panic!("{s:?} should fail, got {:?}", pairs(&p)),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{s:?}: {msg}");
                    assert!(matches!(e, Error::Config(_)), "{s:?}: {e:?}");
                    assert_eq!(msg.lines().count(), 1, "{msg}");
                }
            }
        }
    }

    #[test]
    fn parse_errors_never_show_the_password() {
        for s in [
            "postgres://u:s3cretPW%zz@h/db",
            "postgres://u:s3cretPW%00@h/db",
            "postgres://h/db?password=s3cretPW%zz",
            "postgres://h/db?password",
            "host=h password=s3cret PW",
            "host=h password=s3 cretPW",
            "host=h password=s3 cretPW=x",
            "password='s3cretPW",
        ] {
            let e = parse(s)
                .err()
                .unwrap_or_else(|| panic!("{s:?} should fail"));
            for text in [e.to_string(), format!("{e:?}")] {
                assert!(!text.contains("s3cret"), "{s:?}: {text}");
                assert!(!text.contains("cretPW"), "{s:?}: {text}");
            }
        }
    }
}
