//! Content negotiation: the `Accept` header sent and the parser chosen for a response's
//! `Content-Type`, as the emulated Prometheus does.

use super::gofmt::quote;
use super::{Compat, ErrorKind, ExpoError, Format};

/// Content-Types as client libraries and servers send them, and the format each means.
const COMMON: [(&str, Format); 7] = [
    ("text/plain; version=0.0.4; charset=utf-8", Format::Text),
    ("text/plain; version=0.0.4", Format::Text),
    ("text/plain; charset=utf-8", Format::Text),
    ("text/plain", Format::Text),
    (
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Format::OpenMetrics,
    ),
    (
        "application/openmetrics-text; version=0.0.1; charset=utf-8",
        Format::OpenMetrics,
    ),
    (
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        Format::Protobuf,
    ),
];

/// Picks the parser for a response, as the emulated Prometheus does.
///
/// Prometheus 3: `text/plain`, `application/openmetrics-text` and the protobuf type are
/// recognised; anything else (blank, unparsable, unknown) uses `fallback` or fails.
/// Prometheus 2: OpenMetrics and protobuf by media type, everything else the text format.
pub fn negotiate(
    content_type: Option<&str>,
    compat: Compat,
    fallback: Option<Format>,
) -> Result<Format, ExpoError> {
    let ct = content_type.unwrap_or("");
    // What exporters send, spelt exactly as they send it: well-formed, so every Prometheus
    // version reads it the same way, without parsing (parsing allocated per scrape).
    if let Some((_, f)) = COMMON.iter().find(|(c, _)| *c == ct) {
        return Ok(*f);
    }
    negotiate_parsed(ct, compat, fallback)
}

/// [`negotiate`] by parsing the media type.
fn negotiate_parsed(
    ct: &str,
    compat: Compat,
    fallback: Option<Format>,
) -> Result<Format, ExpoError> {
    let media = media_type(ct);
    if compat == Compat::V2 {
        return Ok(match media.as_deref().ok() {
            Some("application/openmetrics-text") => Format::OpenMetrics,
            Some("application/vnd.google.protobuf") => Format::Protobuf,
            _ => Format::Text,
        });
    }
    let fail = |m: String| Err(ExpoError::new(ErrorKind::ContentType, m));
    if ct.is_empty() {
        return match fallback {
            Some(f) => Ok(f),
            None => fail("non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".to_owned()),
        };
    }
    match media {
        Err(e) => match fallback {
            Some(f) => Ok(f),
            None => fail(format!(
                "cannot parse Content-Type {} and no fallback_scrape_protocol for target\n{e}",
                quote(ct.as_bytes())
            )),
        },
        Ok(m) => match m.as_str() {
            "text/plain" => Ok(Format::Text),
            "application/openmetrics-text" => Ok(Format::OpenMetrics),
            "application/vnd.google.protobuf" => Ok(Format::Protobuf),
            _ => match fallback {
                Some(f) => Ok(f),
                None => fail(format!(
                    "received unsupported Content-Type {} and no fallback_scrape_protocol specified for target",
                    quote(ct.as_bytes())
                )),
            },
        },
    }
}

/// The `Accept` header the emulated Prometheus sends by default (no `scrape_protocols`, no
/// native histograms): it decides which format an exporter answers with.
pub fn accept_header(compat: Compat) -> &'static str {
    match compat {
        Compat::V2 => {
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        }
        Compat::V3 => {
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        }
    }
}

/// The media type Prometheus 3 asks for by each `scrape_protocols` name.
fn protocol_media(protocol: &str) -> Option<&'static str> {
    Some(match protocol {
        "PrometheusProto" => {
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
        }
        "PrometheusText0.0.4" => "text/plain;version=0.0.4",
        "PrometheusText1.0.0" => "text/plain;version=1.0.0",
        "OpenMetricsText0.0.1" => "application/openmetrics-text;version=0.0.1",
        "OpenMetricsText1.0.0" => "application/openmetrics-text;version=1.0.0",
        _ => return None,
    })
}

/// Prometheus 3's default `scrape_protocols` when a job scrapes native histograms and no
/// list is configured: protobuf first.
pub const PROTO_FIRST_PROTOCOLS: &[&str] = &[
    "PrometheusProto",
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

/// The `Accept` header Prometheus 3 sends for a `scrape_protocols` list: each protocol's
/// media type in order (the 1.0.0 text formats with `escaping=allow-utf-8`), weights from
/// 0.6 down, then `*/*`. Unknown names are skipped (the configuration check refuses them).
pub fn accept_for_protocols<S: AsRef<str>>(protocols: &[S]) -> String {
    let mut out = String::new();
    let mut weight = 6;
    for p in protocols {
        let Some(media) = protocol_media(p.as_ref()) else {
            continue;
        };
        out.push_str(media);
        if media.ends_with("version=1.0.0") {
            out.push_str(";escaping=allow-utf-8");
        }
        out.push_str(&format!(";q=0.{weight},"));
        weight = (weight - 1).max(0);
    }
    out.push_str(&format!("*/*;q=0.{weight}"));
    out
}

/// RFC 2045 token characters (Go's `mime` package).
fn token_char(c: u8) -> bool {
    c > b' ' && c < 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&c)
}

/// The lower-cased media type of a Content-Type, with Go's `mime.ParseMediaType` errors for
/// the malformed ones that matter (a bad type; parameters are only checked for shape).
fn media_type(ct: &str) -> Result<String, &'static str> {
    let (head, params) = match ct.find(';') {
        Some(i) => (&ct[..i], Some(&ct[i + 1..])),
        None => (ct, None),
    };
    let head = head.trim_matches([' ', '\t']);
    let (ty, sub) = match head.split_once('/') {
        Some((t, s)) => (t, s),
        None if head.is_empty() => return Err("mime: no media type"),
        None => return Err("mime: expected slash after first token"),
    };
    if ty.is_empty() || !ty.bytes().all(token_char) {
        return Err("mime: no media type");
    }
    if sub.is_empty() || !sub.bytes().all(token_char) {
        return Err("mime: expected token after slash");
    }
    if let Some(params) = params {
        for p in params.split(';') {
            let p = p.trim_matches([' ', '\t']);
            if p.is_empty() {
                continue;
            }
            let Some((k, v)) = p.split_once('=') else {
                return Err("mime: invalid media parameter");
            };
            let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
            if k.is_empty()
                || !k.bytes().all(token_char)
                || !(quoted || (!v.is_empty() && v.bytes().all(token_char)))
            {
                return Err("mime: invalid media parameter");
            }
        }
    }
    Ok(head.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_content_types_read_as_parsing_them_does() {
        for (ct, f) in COMMON {
            for compat in [Compat::V2, Compat::V3] {
                for fallback in [None, Some(Format::Text), Some(Format::Protobuf)] {
                    let parsed = negotiate_parsed(ct, compat, fallback).map_err(|e| e.message);
                    assert_eq!(parsed, Ok(f), "{ct} {compat:?} {fallback:?}");
                    assert_eq!(negotiate(Some(ct), compat, fallback).ok(), Some(f));
                }
            }
        }
    }
}
