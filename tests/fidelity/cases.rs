//! The fidelity suite's cases: one awkward target each, served by `server.py` (same names, same
//! order there fixes the ports). The expected outcome of every case is what Prometheus 2.42 does,
//! measured live in the same run; nothing here guesses it.
//!
//! `known_difference` marks a case where today's scrapetop disagrees with Prometheus, with why.
//! The suite fails when an unmarked case disagrees, and when a marked case starts agreeing: whoever
//! fixes a difference removes its marker (set it to `None`) in the same commit.

/// One target of the suite.
pub struct Case {
    /// The job name, and the case's name in `server.py`.
    pub name: &'static str,
    /// What the target serves, for the table.
    pub what: &'static str,
    /// Extra keys of the job in prometheus.yml (limits), one `key: value` per line.
    pub job: &'static str,
    /// Why today's scrapetop disagrees with Prometheus 2.42 here, or `None` when it agrees.
    pub known_difference: Option<&'static str>,
}

pub const CASES: &[Case] = &[
    Case {
        name: "text_valid",
        what: "valid text page, 3 samples",
        job: "",
        known_difference: None,
    },
    Case {
        name: "om_valid",
        what: "OpenMetrics page with # EOF",
        job: "",
        known_difference: None,
    },
    Case {
        name: "om_no_eof",
        what: "OpenMetrics page without # EOF",
        job: "",
        known_difference: None,
    },
    Case {
        name: "plain_hello",
        what: "200 text/plain body `hello`",
        job: "",
        known_difference: None,
    },
    Case {
        name: "html_login",
        what: "HTML login page served 200",
        job: "",
        known_difference: None,
    },
    Case {
        name: "invalid_value",
        what: "sample value `one`",
        job: "",
        known_difference: None,
    },
    Case {
        name: "invalid_name",
        what: "metric name `fid-b`",
        job: "",
        known_difference: None,
    },
    Case {
        name: "invalid_utf8_label",
        what: "label value bytes FF FE",
        job: "",
        known_difference: None,
    },
    Case {
        name: "unknown_type",
        what: "# TYPE fid_a bogus",
        job: "",
        known_difference: None,
    },
    Case {
        name: "nul_middle",
        what: "NUL byte after 2 of 4 samples",
        job: "",
        known_difference: None,
    },
    Case {
        name: "empty_200",
        what: "200 with an empty body",
        job: "",
        known_difference: None,
    },
    Case {
        name: "status_503",
        what: "503 with a body",
        job: "",
        known_difference: None,
    },
    Case {
        name: "status_404",
        what: "404 with a body",
        job: "",
        known_difference: None,
    },
    Case {
        name: "redirect_301",
        what: "301 to /real on the same port",
        job: "",
        known_difference: None,
    },
    Case {
        name: "redirect_port",
        what: "302 to another port",
        job: "",
        known_difference: None,
    },
    Case {
        name: "redirect_loop",
        what: "302 to itself, forever",
        job: "",
        known_difference: None,
    },
    Case {
        name: "head_3k",
        what: "response head of 3 KiB",
        job: "",
        known_difference: None,
    },
    Case {
        name: "head_1m",
        what: "response head of 1 MiB",
        job: "",
        known_difference: None,
    },
    Case {
        name: "headers_120",
        what: "120 response headers",
        job: "",
        known_difference: None,
    },
    Case {
        name: "conn_close",
        what: "Connection: close on every response",
        job: "",
        known_difference: None,
    },
    Case {
        name: "http10",
        what: "HTTP/1.0 response, then close",
        job: "",
        known_difference: None,
    },
    Case {
        name: "chunked",
        what: "chunked body, 2 chunks",
        job: "",
        known_difference: None,
    },
    Case {
        name: "gzip",
        what: "gzip body",
        job: "",
        known_difference: None,
    },
    Case {
        name: "gzip_corrupt",
        what: "gzip body with 16 bytes overwritten",
        job: "",
        known_difference: None,
    },
    Case {
        name: "gzip_not_gzip",
        what: "plain body labelled gzip",
        job: "",
        known_difference: None,
    },
    Case {
        name: "gzip_two_members",
        what: "gzip body of two members",
        job: "",
        known_difference: None,
    },
    Case {
        name: "gzip_upper_case",
        what: "gzip body, Content-Encoding: GZIP",
        job: "",
        known_difference: None,
    },
    Case {
        name: "body_limit_exact",
        what: "body of exactly body_size_limit (100B)",
        job: "body_size_limit: 100B",
        known_difference: None,
    },
    Case {
        name: "body_limit_under",
        what: "body 1 byte under body_size_limit",
        job: "body_size_limit: 100B",
        known_difference: None,
    },
    Case {
        name: "sample_limit",
        what: "3 samples, sample_limit 2",
        job: "sample_limit: 2",
        known_difference: None,
    },
    Case {
        name: "label_limit",
        what: "3 labels, label_limit 2",
        job: "label_limit: 2",
        known_difference: None,
    },
    Case {
        name: "label_name_length",
        what: "label name of 25, limit 10",
        job: "label_name_length_limit: 10",
        known_difference: None,
    },
    Case {
        name: "label_value_length",
        what: "label value of 25, limit 10",
        job: "label_value_length_limit: 10",
        known_difference: None,
    },
    Case {
        name: "slow_body",
        what: "half the body, 2 s pause, the rest",
        job: "",
        known_difference: None,
    },
    Case {
        name: "gzip_bomb",
        what: "1 MiB gzip inflating to 1 GiB",
        // Every 5 s, not every second: while Prometheus inflates the bomb (up to 4 GiB of heap)
        // it starves, and its other scrapes time out on a shared 2-core machine.
        job: "scrape_interval: 5s",
        known_difference: None,
    },
    Case {
        name: "idle_close",
        what: "server closes idle keep-alive after 0.5 s",
        job: "",
        known_difference: None,
    },
    Case {
        name: "no_content_type",
        what: "valid text page, no Content-Type",
        job: "",
        known_difference: None,
    },
    Case {
        name: "short_body",
        what: "Content-Length 500, 72 bytes sent, close",
        job: "",
        known_difference: None,
    },
    Case {
        name: "histogram",
        what: "histogram (3 buckets) and summary: 8 samples",
        job: "",
        known_difference: None,
    },
    Case {
        name: "om_as_text",
        what: "OpenMetrics page labelled text/plain",
        job: "",
        known_difference: None,
    },
    Case {
        name: "text_as_openmetrics",
        what: "text page labelled OpenMetrics",
        job: "",
        known_difference: None,
    },
    Case {
        name: "crlf_lines",
        what: "text page with CRLF line ends",
        job: "",
        known_difference: None,
    },
    Case {
        name: "no_final_newline",
        what: "text page without its last newline",
        job: "",
        known_difference: None,
    },
    Case {
        name: "duplicate_series",
        what: "the same series twice",
        job: "",
        known_difference: None,
    },
    Case {
        name: "utf8_bom",
        what: "text page starting with a UTF-8 BOM",
        job: "",
        known_difference: None,
    },
    Case {
        name: "escapes",
        what: "escaped label values, +Inf, -1e-3",
        job: "",
        known_difference: None,
    },
    Case {
        name: "status_204",
        what: "204 No Content",
        job: "",
        known_difference: None,
    },
    Case {
        name: "early_hints_103",
        what: "103 Early Hints, then 200",
        job: "",
        known_difference: None,
    },
    Case {
        name: "lf_only_head",
        what: "response head with bare LF line ends",
        job: "",
        known_difference: None,
    },
    Case {
        name: "trailing_garbage",
        what: "bytes after the body (beyond Content-Length)",
        job: "",
        known_difference: None,
    },
    Case {
        name: "head_8k",
        what: "response head of 8 KiB",
        job: "",
        known_difference: None,
    },
    Case {
        name: "head_100k",
        what: "response head of 100 KiB",
        job: "",
        known_difference: None,
    },
    Case {
        name: "gzip_chunked",
        what: "gzip body, chunked",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_valid",
        what: "https via nginx, HTTP/2, valid page",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_shared",
        what: "3 targets, one host:port, h2, 0.4 s each",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_disabled",
        what: "h2 offered by nginx, enable_http2: false",
        job: "enable_http2: false",
        known_difference: None,
    },
    Case {
        name: "https_h1_only",
        what: "https via nginx without http2",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_timeout",
        what: "h2, half the body, 2 s pause",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_body_limit",
        what: "h2, 200 B body over body_size_limit",
        job: "body_size_limit: 100B",
        known_difference: None,
    },
    Case {
        name: "h2_status_503",
        what: "h2, 503 with a body",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_gzip",
        what: "h2, gzip body",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_goaway",
        what: "h2, GOAWAY after 2 streams",
        job: "",
        known_difference: None,
    },
    Case {
        name: "h2_idle_close",
        what: "h2, server closes idle after 300 ms",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_valid",
        what: "protobuf: counter x2, gauge, untyped",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_summary_histogram",
        what: "protobuf: summary, 2 classic histograms",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_truncated",
        what: "protobuf: last message cut short",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_garbage",
        what: "protobuf type, body of plain text",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_bad_varint",
        what: "protobuf: length varint of 6 bytes",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_wrong_wire_type",
        what: "protobuf: Name with wire type 0",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_bad_label_name",
        what: "protobuf: label name `a-b`",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_native_histogram",
        what: "protobuf: native histogram (no flag)",
        job: "",
        known_difference: None,
    },
    Case {
        name: "proto_empty",
        what: "protobuf type, empty body",
        job: "",
        known_difference: None,
    },
    Case {
        name: "redirect_dot_segments",
        what: "302 to ../../c/./real/../metrics",
        job: "",
        known_difference: None,
    },
    Case {
        name: "redirect_auth_port",
        what: "302 to another port, with credentials",
        job: "authorization:\n  credentials: fidelity-not-a-secret",
        known_difference: None,
    },
    Case {
        name: "redirect_to_target",
        what: "302 to another target of the job",
        job: "",
        known_difference: None,
    },
];

/// Cases whose job also scrapes the aux port as a second target (a redirect to another
/// target of the same job: does it share that target's connection?).
pub const ALSO_SCRAPE_AUX: &[&str] = &["redirect_to_target"];

/// Request headers compared between the two scrapers, as the target's server received them on
/// the first case's port, and why today's scrapetop differs, where it does (same marker rule
/// as the cases).
pub const HEADERS: &[(&str, Option<&str>)] = &[
    ("accept", None),
    ("accept-encoding", None),
    ("x-prometheus-scrape-timeout-seconds", None),
];
