//! The JSON form of an event (one line of headless output): `ts`, then `job`, `instance` and
//! `target` for events about a target, then `event` and the kind's fields. It reads back into
//! the same [`Event`], so tests and a future consumer match typed values.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Event, EventKind, Origin, TargetId, TargetRef};

#[derive(Serialize)]
struct EventOut<'a> {
    ts: Rfc3339<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<TargetId>,
    #[serde(flatten)]
    kind: &'a EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Origin>,
}

#[derive(Deserialize)]
struct EventIn<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    instance: Option<String>,
    #[serde(default)]
    target: Option<TargetId>,
    #[serde(flatten)]
    kind: EventKind,
    #[serde(default)]
    source: Option<Origin>,
}

/// A time written as RFC 3339 with milliseconds, UTC, straight into the output.
pub(crate) struct Rfc3339<'a>(pub &'a SystemTime);

impl Serialize for Rfc3339<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*self.0))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventOut {
            ts: Rfc3339(&self.ts),
            job: self.target.as_ref().map(|t| &*t.job),
            instance: self.target.as_ref().map(|t| &*t.instance),
            target: self.target.as_ref().map(|t| t.id),
            kind: &self.kind,
            source: self.source,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let e = EventIn::deserialize(d)?;
        let ts = humantime::parse_rfc3339(&e.ts).map_err(D::Error::custom)?;
        let target = match (e.target, e.job, e.instance) {
            (None, None, None) => None,
            (Some(id), Some(job), Some(instance)) => Some(Arc::new(TargetRef {
                id,
                job: Arc::from(job),
                instance: Arc::from(instance),
            })),
            _ => {
                return Err(D::Error::custom(
                    "an event about a target needs target, job and instance",
                ));
            }
        };
        Ok(Event {
            ts,
            target,
            kind: e.kind,
            source: e.source,
        })
    }
}
