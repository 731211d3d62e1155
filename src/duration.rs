//! Prometheus duration syntax: `1h30m`, `15s`, `500ms`, `1d`, `1w`, `1y`.

use std::time::Duration;

/// Parse a Prometheus duration. Units: ms, s, m, h, d, w, y; concatenated in decreasing order.
pub fn parse(s: &str) -> Result<Duration, String> {
    let err = || format!("not a valid duration string: {s:?} (examples: 15s, 1m, 1h30m, 500ms)");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        // Longest unit first so "ms" is not read as "m".
        const UNITS: [(&str, u128, usize); 7] = [
            ("ms", 1, 0),
            ("y", 365 * 86_400_000, 6),
            ("w", 7 * 86_400_000, 5),
            ("d", 86_400_000, 4),
            ("h", 3_600_000, 3),
            ("m", 60_000, 2),
            ("s", 1000, 1),
        ];
        let Some((u, mult, rank)) = UNITS.iter().find(|(u, _, _)| rest.starts_with(u)) else {
            return Err(err());
        };
        if *rank >= last_rank {
            return Err(err());
        }
        last_rank = *rank;
        rest = &rest[u.len()..];
        total = total
            .checked_add(n.checked_mul(*mult).ok_or_else(err)?)
            .ok_or_else(err)?;
    }
    u64::try_from(total)
        .map(Duration::from_millis)
        .map_err(|_| err())
}

/// Format a duration the way Prometheus prints it (`1m30s`, `500ms`).
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (u, m) in [
        ("y", 365 * 86_400_000u128),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= m {
            out.push_str(&format!("{}{u}", ms / m));
            ms %= m;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        for (s, ms) in [
            ("15s", 15_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1d", 86_400_000),
            ("2w", 1_209_600_000),
            ("0", 0),
            ("1m500ms", 60_500),
        ] {
            assert_eq!(parse(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for s in ["", "1", "s", "1x", "1s1m", "-1s", "1.5s", "1m1m"] {
            assert!(parse(s).is_err(), "{s} accepted");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["15s", "1m", "1h30m", "500ms", "1m500ms"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
