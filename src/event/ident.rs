//! Who an event is about: a target's identity (as Prometheus derives it) and the pool its
//! connections come from.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A target's identity: a 64-bit FNV-1a hash of its final label set and its scrape URL,
/// printed as 16 lowercase hex digits.
///
/// Prometheus identifies a target by exactly these two things (`Target.hash()`: labels and
/// URL), so two targets of one job may share an `instance` (the blackbox pattern, or
/// `--target http://h/a --target http://h/b`) and still be two targets, and the same address
/// in two target groups with different labels is two targets; identical labels and URL are one
/// target. The id is stable across reloads and restarts: a reload keeps a target whose id is
/// unchanged.
///
/// Canonical form hashed (bytes, in this order):
/// - for each label, sorted by name: the name, `0xff`, the value, `0xff`;
/// - one `0xfe` byte (it cannot occur in UTF-8, so the label part ends unambiguously);
/// - the scrape URL, without credentials (`http://host:port/path?query`);
/// - only when the `job` label is not the scrape pool's (job's) name: `0xfd` and that name
///   (see [`TargetId::in_pool`]).
///
/// An observer of a real Prometheus computes the same id from `/api/v1/targets`: the
/// `labels` object of an active target (its final labels, `job` and `instance` included) and
/// its `scrapeUrl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TargetId(pub u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl TargetId {
    /// The id of the target with these final labels (any order) and scrape URL.
    pub fn of<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>, url: &str) -> TargetId {
        let mut sorted: Vec<(&str, &str)> = labels.into_iter().collect();
        sorted.sort_unstable();
        let mut h = FNV_OFFSET;
        for (name, value) in sorted {
            h = fnv1a(h, name.as_bytes());
            h = fnv1a(h, &[0xff]);
            h = fnv1a(h, value.as_bytes());
            h = fnv1a(h, &[0xff]);
        }
        h = fnv1a(h, &[0xfe]);
        TargetId(fnv1a(h, url.as_bytes()))
    }
}

impl TargetId {
    /// The id of a target of the scrape pool (job) `pool`: [`TargetId::of`] when its `job`
    /// label is the pool's name (the usual case), else that hash continued with one `0xfd`
    /// byte and the pool's name. Prometheus keeps targets per pool, so two jobs whose labels
    /// (a `job` set by a target group or by relabelling) and URL come out identical are still
    /// two targets, each scraped on its own connection; folding the pool in keeps them two
    /// here, without changing any other target's id.
    pub fn in_pool<'a>(
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        url: &str,
        pool: &str,
    ) -> TargetId {
        let labels: Vec<(&str, &str)> = labels.into_iter().collect();
        let named = labels.iter().any(|&(k, v)| k == "job" && v == pool);
        let TargetId(h) = TargetId::of(labels, url);
        if named {
            TargetId(h)
        } else {
            TargetId(fnv1a(fnv1a(h, &[0xfd]), pool.as_bytes()))
        }
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A target id that is not 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target id {0:?}: expected 16 hex digits")]
pub struct BadTargetId(pub String);

impl FromStr for TargetId {
    type Err = BadTargetId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(BadTargetId(s.to_owned()));
        }
        u64::from_str_radix(s, 16)
            .map(TargetId)
            .map_err(|_| BadTargetId(s.to_owned()))
    }
}

impl Serialize for TargetId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Written straight into the output: no allocation per event.
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TargetId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Identity of one scrape target, shared (one `Arc`, cheaply cloned) by every event about it,
/// so that carrying the id costs nothing per scrape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetRef {
    /// Identity from labels + URL (see [`TargetId`]); the key of every per-target table.
    pub id: TargetId,
    /// The job (scrape pool) the target belongs to.
    pub job: Arc<str>,
    /// The `instance` label (normally `host:port`). Not unique: several targets may share it.
    pub instance: Arc<str>,
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when none is given.
    pub fn default_port(&self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A connection pool: Prometheus keeps one HTTP client per job, and its pool is keyed by
/// (scheme, host:port), so the pool of a connection is (job, scheme, host, port). Targets of
/// one job on one host:port (blackbox) share it.
///
/// JSON (`pool` of `target_added` and `conn_opened`): `job/scheme://host:port`, IPv6 hosts in
/// brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolKey {
    /// The job.
    pub job: Arc<str>,
    /// http or https.
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets).
    pub host: Arc<str>,
    /// Port.
    pub port: u16,
}

impl PoolKey {
    /// `scheme://host:port`, the part after the job.
    pub fn endpoint(&self) -> String {
        let mut s = self.to_string();
        s.drain(..=self.job.len());
        s
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.as_str();
        if self.host.contains(':') {
            write!(f, "{}/{scheme}://[{}]:{}", self.job, self.host, self.port)
        } else {
            write!(f, "{}/{scheme}://{}:{}", self.job, self.host, self.port)
        }
    }
}

/// A pool key that is not `job/scheme://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pool {0:?}: expected job/scheme://host:port")]
pub struct BadPoolKey(pub String);

impl FromStr for PoolKey {
    type Err = BadPoolKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPoolKey(s.to_owned());
        let (front, authority) = s.rsplit_once("://").ok_or_else(bad)?;
        let (job, scheme) = front.rsplit_once('/').ok_or_else(bad)?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad()),
        };
        let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(PoolKey {
            job: Arc::from(job),
            scheme,
            host: Arc::from(host),
            port: port.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for PoolKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PoolKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_id_is_fnv1a_of_the_canonical_form() {
        // Reference value computed by hand from the documented canonical form.
        let mut canon = Vec::new();
        for (k, v) in [("instance", "h:80"), ("job", "j")] {
            canon.extend_from_slice(k.as_bytes());
            canon.push(0xff);
            canon.extend_from_slice(v.as_bytes());
            canon.push(0xff);
        }
        canon.push(0xfe);
        canon.extend_from_slice(b"http://h:80/metrics");
        let want = fnv1a(FNV_OFFSET, &canon);
        let id = TargetId::of([("job", "j"), ("instance", "h:80")], "http://h:80/metrics");
        assert_eq!(id.0, want);
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(id.to_string().parse::<TargetId>(), Ok(id));
        // The published FNV-1a 64 test vector for "a".
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn target_id_depends_on_labels_and_url_only() {
        let a = TargetId::of([("job", "j"), ("instance", "h:80")], "http://h:80/a");
        let b = TargetId::of([("job", "j"), ("instance", "h:80")], "http://h:80/b");
        let c = TargetId::of(
            [("job", "j"), ("instance", "h:80"), ("env", "x")],
            "http://h:80/a",
        );
        let a2 = TargetId::of([("instance", "h:80"), ("job", "j")], "http://h:80/a");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, a2);
        // The separators keep label boundaries apart.
        assert_ne!(
            TargetId::of([("a", "bc")], "u"),
            TargetId::of([("ab", "c")], "u")
        );
    }

    #[test]
    fn pool_keys_print_and_parse() {
        for s in [
            "node/http://h.example:9100",
            "a/b/https://[::1]:443",
            "blackbox/http://127.0.0.1:9115",
        ] {
            let k: PoolKey = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(k.to_string(), s);
        }
        let k: PoolKey = "a/b/https://[::1]:443".parse().expect("parses");
        assert_eq!((&*k.job, &*k.host, k.port), ("a/b", "::1", 443));
        assert_eq!(k.endpoint(), "https://[::1]:443");
        for bad in [
            "",
            "http://h:1",
            "j/ftp://h:1",
            "j/http://h",
            "j/http://h:x",
        ] {
            assert!(bad.parse::<PoolKey>().is_err(), "{bad}");
        }
    }
}
