//! The one redaction every user-supplied value passes through before it is echoed in an error
//! or a notice.
//!
//! Malformed input is where secrets leak: a valid configuration keeps its passwords in
//! [`crate::engine::spec::Secret`], but a target written `user:p/ss@host`, a `basic_auth` given
//! as a string, or a plain target list read as YAML reaches an error message as raw text. Two
//! rules, deliberately generous (over-redacting an error costs little, a leaked password a lot):
//! - in any value, everything before its **last** `@` (after a `scheme://`, if any) is userinfo;
//! - when a message is about an auth key (`password`, `bearer_token`, `credentials`, …), every
//!   quoted scalar in it is secret.
//!
//! Long values are also cut, so that a 50 MB line is never repeated in an error.

use std::fmt::Write as _;

/// What replaces a secret.
pub const SECRET: &str = "<secret>";

/// Longest value quoted in a message, in characters; longer ones are cut and their size given.
pub const MAX_QUOTED: usize = 200;

/// Keys whose values are credentials (Prometheus's `Secret` fields and the blocks holding them).
const AUTH_KEYS: &[&str] = &[
    "password",
    "bearer_token",
    "credentials",
    "client_secret",
    "client_certificate_key",
    "basic_auth",
    "authorization",
    "oauth2",
    "http_headers",
    "proxy_connect_header",
    "secrets",
    "api_key",
    "access_key",
    "secret_key",
    "auth_token",
    "application_credential_secret",
];

/// Words that name a credential only as a path segment (`tls_config.key: …`), being common
/// English otherwise ("duplicate entry with key …").
const AUTH_SEGMENTS: &[&str] = &["key", "values", "secret", "token"];

/// Whether `key` names a credential (or a block of them).
pub fn is_auth_key(key: &str) -> bool {
    AUTH_KEYS.contains(&key)
}

/// One value (a target, a URL, a line of a list) with its userinfo replaced: everything before
/// the last `@`, after the `scheme://` if one comes before it.
pub fn userinfo(value: &str) -> String {
    let Some(at) = value.rfind('@') else {
        return value.to_owned();
    };
    let start = match value.find("://") {
        Some(i) if i < at => i + 3,
        _ => 0,
    };
    format!("{}{SECRET}{}", &value[..start], &value[at..])
}

/// `value` redacted and cut to [`MAX_QUOTED`] characters, in double quotes (Rust escapes): the
/// form every error uses to quote what the user wrote.
pub fn quote(value: &str) -> String {
    let v = userinfo(value);
    let n = v.chars().count();
    if n <= MAX_QUOTED {
        return format!("{v:?}");
    }
    let cut: String = v.chars().take(MAX_QUOTED).collect();
    format!("{cut:?}… ({} bytes)", value.len())
}

/// A whole message: quoted strings and bare words with an `@` lose their userinfo, every quoted
/// string is secret when the message names an auth key, and long quoted strings are cut.
pub fn text(msg: &str) -> String {
    let secret_scalars = mentions_auth_key(msg);
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix('"') {
            // A Rust- or serde-quoted string: up to the next unescaped quote.
            let end = closing_quote(body);
            let (inner, after) = match end {
                Some(e) => (&body[..e], &body[e + 1..]),
                None => (body, ""),
            };
            if secret_scalars {
                out.push('"');
                out.push_str(SECRET);
                out.push('"');
            } else {
                let v = userinfo(inner);
                if v.chars().count() > MAX_QUOTED {
                    let cut: String = v.chars().take(MAX_QUOTED).collect();
                    let _ = write!(out, "\"{cut}\"… ({} bytes)", inner.len());
                } else {
                    out.push('"');
                    out.push_str(&v);
                    out.push('"');
                }
            }
            rest = after;
            continue;
        }
        // A bare word: up to whitespace or a quote.
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        if word.is_empty() {
            let c = after.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &after[c.len_utf8()..];
            continue;
        }
        if word.contains('@') {
            out.push_str(&userinfo(word));
        } else if word.chars().count() > MAX_QUOTED {
            let cut: String = word.chars().take(MAX_QUOTED).collect();
            let _ = write!(out, "{cut}… ({} bytes)", word.len());
        } else {
            out.push_str(word);
        }
        rest = after;
    }
    out
}

/// Byte index of the quote that ends a string whose opening quote was just consumed.
fn closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether a message is about an auth key: its leading key path (serde's
/// `scrape_configs[0].basic_auth.password: …`) has an auth segment, or it names one of the
/// types that hold credentials (serde's `expected struct RawBasicAuth`).
fn mentions_auth_key(msg: &str) -> bool {
    let path_end = msg.find(": ").unwrap_or(0);
    let path = &msg[..path_end];
    let is_path = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c));
    let in_path = is_path
        && path
            .split(['.', '[', ']'])
            .any(|seg| is_auth_key(seg) || AUTH_SEGMENTS.contains(&seg));
    in_path || AUTH_TYPES.iter().any(|t| msg.contains(t))
}

/// Types holding credentials, as serde names them in "expected struct …".
const AUTH_TYPES: &[&str] = &["RawBasicAuth", "RawAuthorization", "RawTls", "a secret"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_everything_before_the_last_at() {
        let cases = [
            ("http://user:pw@h:1", "http://<secret>@h:1"),
            ("http://u:p/ss@h:1/m", "http://<secret>@h:1/m"),
            ("http://u:p?ss@h:1", "http://<secret>@h:1"),
            ("http://u:p@ss@h:1", "http://<secret>@h:1"),
            ("ftp://u:pw@h", "ftp://<secret>@h"),
            ("user:pass@host:9100", "<secret>@host:9100"),
            ("host:9100", "host:9100"),
            ("a b@c", "<secret>@c"),
        ];
        for (input, want) in cases {
            assert_eq!(userinfo(input), want, "{input}");
        }
    }

    #[test]
    fn text_redacts_quoted_and_bare_values() {
        let cases = [
            (
                r#"invalid target address "http://u:p/ss@h:1": expected host:port"#,
                r#"invalid target address "http://<secret>@h:1": expected host:port"#,
            ),
            (
                r#"bad "user:pa ss\"x@h:1" here"#,
                r#"bad "<secret>@h:1" here"#,
            ),
            ("see u:pw@h:1 now", "see <secret>@h:1 now"),
            (
                r#"scrape_configs[0].basic_auth: invalid type: string "user:hunter2", expected struct"#,
                r#"scrape_configs[0].basic_auth: invalid type: string "<secret>", expected struct"#,
            ),
            (
                r#"bearer_token: invalid type: string "tok""#,
                r#"bearer_token: invalid type: string "<secret>""#,
            ),
            (
                r#"invalid type: string "u:tok", expected struct RawBasicAuth"#,
                r#"invalid type: string "<secret>", expected struct RawBasicAuth"#,
            ),
            (
                r#"job "a": unable to read basic auth password: unable to read file /p"#,
                r#"job "a": unable to read basic auth password: unable to read file /p"#,
            ),
            (
                r#"reading password_file "/etc/p": not found"#,
                r#"reading password_file "/etc/p": not found"#,
            ),
            ("unknown field `key_fil`", "unknown field `key_fil`"),
            (
                r#"tls_config.key: invalid type: string "PEM""#,
                r#"tls_config.key: invalid type: string "<secret>""#,
            ),
            (
                r#"duplicate entry with key "job_name""#,
                r#"duplicate entry with key "job_name""#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(text(input), want, "{input}");
        }
    }

    #[test]
    fn long_values_are_cut() {
        let long = "a".repeat(10_000);
        let t = text(&format!("host {long:?} is too long"));
        assert!(t.len() < 300, "{t}");
        assert!(t.contains("(10000 bytes)"), "{t}");
        let q = quote(&long);
        assert!(q.len() < 300 && q.contains("10000 bytes"), "{q}");
    }
}
