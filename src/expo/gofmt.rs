//! The few pieces of Go formatting and number syntax that Prometheus's errors and its
//! value checks depend on: `%q` quoting, `strconv.ParseFloat`/`ParseInt` acceptance and their
//! error texts, `%f` of infinities.

use std::fmt::Write;

/// Go's `%q` of a byte string (strconv.Quote): printable UTF-8 kept, the rest escaped.
pub(crate) fn quote(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    if (c as u32) <= 0xffff {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    } else {
                        let _ = write!(out, "\\U{:08x}", c as u32);
                    }
                }
                c => out.push(c),
            }
        }
        for &x in chunk.invalid() {
            let _ = write!(out, "\\x{x:02x}");
        }
    }
    out.push('"');
    out
}

/// Go's `%.Nq`/`%.Ns`: at most `n` characters (runes) of `s`.
pub(crate) fn trunc(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Go's `%f` of a float that is NaN or infinite (the only ones Prometheus prints this way).
pub(crate) fn go_f(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{x:.6}")
    }
}

/// What a float value is, as far as the checks need to know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Float {
    /// Finite (its value is not computed: nothing needs it).
    Finite,
    Inf,
    NaN,
}

/// Prometheus's `parseFloat`: Go's `strconv.ParseFloat(s, 64)` after refusing `p`, `P` and
/// `_` (pre-Go-1.13 syntax). The error text is Go's. Only numbers whose exponent could
/// overflow are converted; the common case is a syntax scan.
pub(crate) fn parse_float(s: &[u8]) -> Result<Float, String> {
    if s.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err("unsupported character in float".to_owned());
    }
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", quote(s));
    let (neg_or_pos, rest) = match s.first() {
        Some(b'+' | b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Ok(Float::Inf);
    }
    if !neg_or_pos && rest.eq_ignore_ascii_case(b"nan") {
        return Ok(Float::NaN);
    }
    let mut i = 0;
    let mut digits = 0usize;
    let mut int_digits = 0usize;
    let mut leading = true;
    while i < rest.len() && rest[i].is_ascii_digit() {
        if rest[i] != b'0' || !leading {
            leading = false;
            int_digits += 1;
        }
        digits += 1;
        i += 1;
    }
    if i < rest.len() && rest[i] == b'.' {
        i += 1;
        while i < rest.len() && rest[i].is_ascii_digit() {
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return Err(syntax());
    }
    let mut exp_big = false;
    if i < rest.len() && (rest[i] == b'e' || rest[i] == b'E') {
        i += 1;
        if i < rest.len() && (rest[i] == b'+' || rest[i] == b'-') {
            i += 1;
        }
        let e0 = i;
        while i < rest.len() && rest[i].is_ascii_digit() {
            i += 1;
        }
        if i == e0 {
            return Err(syntax());
        }
        exp_big = true;
    }
    if i != rest.len() {
        return Err(syntax());
    }
    if exp_big || int_digits > 300 {
        // Could overflow: convert (the text is ASCII here).
        let v: f64 = std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(syntax)?;
        if v.is_infinite() {
            return Err(format!(
                "strconv.ParseFloat: parsing {}: value out of range",
                quote(s)
            ));
        }
    }
    Ok(Float::Finite)
}

/// The value of a float known to be valid (for timestamps that must be finite).
pub(crate) fn float_value(s: &[u8]) -> f64 {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Go's `strconv.ParseInt(s, 10, 64)` for a string of ASCII digits (all the text format's
/// timestamps are).
pub(crate) fn parse_int(s: &[u8]) -> Result<(), String> {
    let mut v: i64 = 0;
    for &c in s {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or_else(|| format!("strconv.ParseInt: parsing {}: value out of range", quote(s)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote(b"a\"b\\c\n\0\xff\xc3\xa9"), r#""a\"b\\c\n\x00\xffé""#);
        assert_eq!(trunc("héllo", 2), "hé");
    }

    #[test]
    fn floats_like_go() {
        for ok in [
            "1",
            "-1",
            "+1",
            "1.5",
            ".5",
            "5.",
            "1e5",
            "1E-5",
            "+Inf",
            "-inf",
            "Infinity",
            "NaN",
            "nan",
            "0",
            "00012",
            "1.7976931348623157e308",
            "1e-400",
        ] {
            assert!(parse_float(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", "x", "1x", "+nan", "-NaN", "1e", "0x10", "1 ", "e5", "--1", "in",
        ] {
            let e = parse_float(bad.as_bytes()).unwrap_err();
            assert!(e.ends_with("invalid syntax"), "{bad}: {e}");
        }
        assert_eq!(
            parse_float(b"0x1p3").unwrap_err(),
            "unsupported character in float"
        );
        assert_eq!(
            parse_float(b"1e400").unwrap_err(),
            r#"strconv.ParseFloat: parsing "1e400": value out of range"#
        );
        assert!(parse_int(b"9223372036854775807").is_ok());
        assert!(parse_int(b"9223372036854775808").is_err());
    }
}
