//! The libpq password file (`~/.pgpass`, or `passfile=` / `PGPASSFILE`): looking up the password
//! for a host, port, database and user.
//!
//! It is consulted only when neither the connection string nor `PGPASSWORD` gave a password. It
//! must never log, print or return in an error any password it reads, nor any line of the file.
//!
//! Format, as libpq: one `hostname:port:database:username:password` entry per line; the first
//! four fields may be `*` (matches anything); `\:` and `\\` stand for a literal `:` and `\`;
//! lines starting with `#` are comments; the first matching line wins.
//!
//! Permissions, as libpq: the file is ignored (with a warning) unless it is a regular file, and
//! ignored when it grants *any* permission to group or others (`mode & 0o077 != 0`, libpq's
//! `S_IRWXG | S_IRWXO` test) — make it `chmod 0600`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What the lookup is for: the fields a line is matched against.
pub(crate) struct Key<'a> {
    /// The host as libpq matches it: `localhost` for the default socket directory (or no host),
    /// the socket path for another directory, else the host name or address as given.
    pub host: &'a str,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// The password for `key` from the file at `path`, if the file exists, is private to its owner,
/// and has a matching line.
pub(crate) fn lookup(path: &Path, key: &Key<'_>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        tracing::warn!(
            "password file \"{}\" is not a plain file; ignoring it",
            path.display()
        );
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) \
             or less; ignoring it",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    find(&text, key)
}

/// The password of the first line of `text` matching `key`.
pub(crate) fn find(text: &str, key: &Key<'_>) -> Option<String> {
    let port = key.port.to_string();
    text.lines().find_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let fields = split(line)?;
        let wanted = [key.host, port.as_str(), key.dbname, key.user];
        fields[..4]
            .iter()
            .zip(wanted)
            .all(|(f, w)| f.matches(w))
            .then(|| fields[4].text.clone())
    })
}

struct Field {
    text: String,
    /// The field was a bare `*` (an escaped `\*` is a literal star).
    wildcard: bool,
}

impl Field {
    fn matches(&self, value: &str) -> bool {
        self.wildcard || self.text == value
    }
}

/// Split a line into its five fields, unescaping `\x` to `x`. The password ends at the next
/// unescaped `:`, as in libpq. `None` for a line with fewer than five fields.
fn split(line: &str) -> Option<[Field; 5]> {
    let mut fields = Vec::with_capacity(5);
    let mut cur = String::new();
    let mut escaped_any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                escaped_any = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ':' => {
                fields.push(Field {
                    wildcard: cur == "*" && !escaped_any,
                    text: std::mem::take(&mut cur),
                });
                escaped_any = false;
                if fields.len() == 5 {
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    if fields.len() == 4 {
        fields.push(Field {
            wildcard: false,
            text: cur,
        });
    }
    fields.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Key<'static> = Key {
        host: "db.example.com",
        port: 5432,
        dbname: "app",
        user: "alice",
    };

    #[test]
    fn matching_lines() {
        let cases: &[(&str, Option<&str>)] = &[
            ("db.example.com:5432:app:alice:pw", Some("pw")),
            ("*:*:*:*:pw", Some("pw")),
            ("db.example.com:*:app:alice:pw", Some("pw")),
            ("other:5432:app:alice:no\n*:5432:app:alice:yes", Some("yes")),
            (
                "*:5432:app:alice:first\n*:5432:app:alice:second",
                Some("first"),
            ),
            ("db.example.com:5433:app:alice:pw", None),
            ("db.example.com:5432:app:bob:pw", None),
            ("db.example.com:5432:other:alice:pw", None),
            ("# db.example.com:5432:app:alice:pw", None),
            ("db.example.com:5432:app:alice", None),
            ("", None),
            ("*:*:*:*:pa\\:ss\\\\word", Some("pa:ss\\word")),
            ("*:*:*:*:pw:trailing", Some("pw")),
            ("*:*:*:*:pw\r", Some("pw")),
            ("*:*:*:*:", Some("")),
            ("\\*:*:*:*:pw", None),
            ("db.example.com:5432:app:al\\ice:pw", Some("pw")),
        ];
        for (text, want) in cases {
            assert_eq!(find(text, &KEY).as_deref(), *want, "{text:?}");
        }
        let odd = Key {
            host: "h:1",
            port: 5432,
            dbname: "d\\b",
            user: "*",
        };
        assert_eq!(
            find("h\\:1:5432:d\\\\b:\\*:pw", &odd).as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn file_permissions_follow_libpq() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:filepw\n").unwrap();
        for (mode, want) in [
            (0o600, Some("filepw")),
            (0o400, Some("filepw")),
            (0o640, None),
            (0o604, None),
            (0o610, None),
            (0o601, None),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(lookup(&path, &KEY).as_deref(), want, "mode {mode:o}");
        }
        assert_eq!(lookup(&dir.path().join("missing"), &KEY), None);
        assert_eq!(
            lookup(dir.path(), &KEY),
            None,
            "a directory is no password file"
        );
    }
}
