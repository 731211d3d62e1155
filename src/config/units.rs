//! Prometheus's duration syntax (`1h30m`, `15s`, `500ms`, `1d`, `1w`, `1y`) and byte sizes
//! (`10MB`, `1KiB`: base 2 for both spellings, as Prometheus's units parser).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

const MS: u64 = 1;
const S: u64 = 1000 * MS;
const M: u64 = 60 * S;
const H: u64 = 60 * M;
const D: u64 = 24 * H;
const W: u64 = 7 * D;
const Y: u64 = 365 * D;

/// Parse a Prometheus duration: units in the order y w d h m s ms, each at most once, integers
/// only; `0` alone is allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a valid duration string: {s:?}");
    if s.is_empty() {
        return Err("empty duration string".to_owned());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let units: [(&str, u64); 7] = [
        ("y", Y),
        ("w", W),
        ("d", D),
        ("h", H),
        ("m", M),
        ("s", S),
        ("ms", MS),
    ];
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let unit_len = if rest.starts_with("ms") {
            2
        } else {
            rest.chars()
                .next()
                .map_or(0, |c| usize::from(c.is_ascii_alphabetic()))
        };
        let unit = &rest[..unit_len];
        let pos = units[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?;
        let mult = units[next_unit + pos].1;
        next_unit += pos + 1;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total))
}

/// Format a duration as Prometheus does (`1m`, `1h30m`, `0s`, `1w`), for `__scrape_interval__`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut unit = |name: &str, mult: u64, exact: bool| {
        if exact && ms % mult != 0 {
            return;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{name}"));
            ms -= v * mult;
        }
    };
    unit("y", Y, true);
    unit("w", W, true);
    unit("d", D, false);
    unit("h", H, false);
    unit("m", M, false);
    unit("s", S, false);
    unit("ms", MS, false);
    out
}

/// Parse a byte size: sums of `<number><unit>` where unit is B, KB…EB or KiB…EiB (all base 2),
/// fractions allowed (`1.5GB`), `0` alone allowed.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("invalid byte size {s:?}: {why}");
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| bad("expected a number"))?;
        rest = &rest[num_len..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(bad("missing unit (B, KB, MB, GB, KiB, …)"));
        }
        let power = match unit {
            "B" => 0,
            "KB" | "KiB" => 1,
            "MB" | "MiB" => 2,
            "GB" | "GiB" => 3,
            "TB" | "TiB" => 4,
            "PB" | "PiB" => 5,
            "EB" | "EiB" => 6,
            _ => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        total += n * 1024f64.powi(power);
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total >= u64::MAX as f64 {
        return Err(bad("out of range"));
    }
    Ok(total as u64)
}

/// A duration field in a Prometheus YAML file; errors carry the YAML location.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct PromDuration(pub Duration);

impl fmt::Debug for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// Deserialize a string through `parse`, raising its error inside the scalar so that
/// serde_yaml reports the value's own line and column (not its parent key's).
pub(crate) fn parse_scalar<'de, D, T>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> serde::de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            (self.parse)(&v.to_string()).map_err(E::custom)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            (self.parse)(&v.to_string()).map_err(E::custom)
        }
    }
    d.deserialize_str(V { expecting, parse })
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "a duration such as 15s or 1h30m", |s| {
            parse_duration(s).map(PromDuration)
        })
    }
}

/// A byte size field in a Prometheus YAML file.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "a byte size such as 10MB", |s| {
            parse_bytes(s).map(ByteSize)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("15s", 15_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("0", 0),
            ("1m30s500ms", 90_500),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for s in ["", "15", "1.5s", "15x", "1s1m", "1m1m", "-1s", "s", "1 s"] {
            assert!(parse_duration(s).is_err(), "{s} accepted");
        }
        assert_eq!(
            parse_duration("15x").unwrap_err(),
            "not a valid duration string: \"15x\""
        );
    }

    #[test]
    fn durations_format() {
        for s in [
            "1m",
            "15s",
            "1h30m",
            "500ms",
            "1d",
            "1w",
            "1y",
            "0s",
            "8d",
            "1m30s500ms",
        ] {
            let d = parse_duration(s).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(format_duration(d), s);
        }
    }

    #[test]
    fn bytes() {
        let ok = [
            ("0", 0),
            ("512B", 512),
            ("1KB", 1024),
            ("1KiB", 1024),
            ("10MB", 10 << 20),
            ("1.5GB", 3 << 29),
            ("1GB512MB", (1 << 30) + (512 << 20)),
        ];
        for (s, n) in ok {
            assert_eq!(parse_bytes(s), Ok(n), "{s}");
        }
        for s in ["", "10", "10mb", "10XB", "MB", "-1MB"] {
            assert!(parse_bytes(s).is_err(), "{s} accepted");
        }
    }
}
