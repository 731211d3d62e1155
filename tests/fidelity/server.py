#!/usr/bin/env python3
"""The awkward targets of the fidelity suite (tests/fidelity.rs): one small HTTP/1.1 server.

Usage: server.py IP BASE_PORT MANIFEST_JSON LOG_JSONL

Case number i listens on BASE_PORT + i (a second port, for a redirect to another port, on
BASE_PORT + 100 + i). Each case answers with exact raw bytes chosen here, so nothing between
the bytes and the scraper normalises them. Every accept, request and close is logged as one JSON
line (with the client's User-Agent on requests), so the server side judges connection fate:
one connection over N scrapes is kept, N connections is re-dialled.

A case with a `front` is served over https by nginx (started by tests/fidelity.rs, which reads
the front's settings from the manifest) on BASE_PORT + 200 + i, proxying to this server's plain
port: nginx speaks TLS and HTTP/2, and its access log judges the connection fate there.

Writes MANIFEST_JSON (name, port, path, aux ports, front of every case), then prints `ready`.
Standard library only: python3 is on every machine of this kind.
"""

import gzip
import json
import socket
import struct
import sys
import threading
import time
import zlib

TEXT = b"text/plain; version=0.0.4; charset=utf-8"
OM = b"application/openmetrics-text; version=1.0.0; charset=utf-8"

# Three samples, one with a label: the reference page.
VALID = (
    b"# HELP fid_a A gauge.\n# TYPE fid_a gauge\nfid_a 1\n"
    b'fid_b{x="y"} 2\n'
    b"fid_c 3\n"
)
# Request headers the suite compares between the two scrapers.
COMPARED_HEADERS = ("accept", "accept-encoding", "x-prometheus-scrape-timeout-seconds")

VALID_OM = b"# TYPE fid_a gauge\nfid_a 1\n# TYPE fid_b gauge\nfid_b{x=\"y\"} 2\n"


# The protobuf exposition, hand-encoded (no protobuf package needed): length-delimited
# io.prometheus.client.MetricFamily messages.
PB = b"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"


def pb_varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_tag(num, wire):
    return pb_varint(num << 3 | wire)


def pb_bytes(num, data):
    return pb_tag(num, 2) + pb_varint(len(data)) + data


def pb_double(num, x):
    return pb_tag(num, 1) + struct.pack("<d", x)


def pb_uint(num, x):
    return pb_tag(num, 0) + pb_varint(x)


def pb_label(name, value):
    return pb_bytes(1, pb_bytes(1, name) + pb_bytes(2, value))


def pb_family(name, mtype, metrics, help=b""):
    """MetricFamily: name 1, help 2, type 3 (COUNTER 0, GAUGE 1, SUMMARY 2, UNTYPED 3,
    HISTOGRAM 4), metric 4."""
    mf = pb_bytes(1, name) + (pb_bytes(2, help) if help else b"") + pb_uint(3, mtype)
    mf += b"".join(pb_bytes(4, m) for m in metrics)
    return pb_varint(len(mf)) + mf


def pb_value_metric(field, value, labels=()):
    """Metric with a gauge (2), counter (3) or untyped (5) value."""
    return b"".join(pb_label(n, v) for n, v in labels) + pb_bytes(field, pb_double(1, value))


def pb_summary(count, total, quantiles):
    q = b"".join(pb_bytes(3, pb_double(1, k) + pb_double(2, v)) for k, v in quantiles)
    return pb_bytes(4, pb_uint(1, count) + pb_double(2, total) + q)


def pb_histogram(count, total, buckets, extra=b""):
    """Histogram (Metric field 7): sample_count 1, sample_sum 2, bucket 3 (cumulative_count 1,
    upper_bound 2)."""
    bb = b"".join(pb_bytes(3, pb_uint(1, c) + pb_double(2, le)) for le, c in buckets)
    return pb_bytes(7, pb_uint(1, count) + pb_double(2, total) + bb + extra)


# Counter (2 series), gauge, untyped: 4 samples.
PB_VALID = (
    pb_family(b"fid_requests_total", 0, [pb_value_metric(3, 7, [(b"code", b"200")]), pb_value_metric(3, 1, [(b"code", b"500")])], help=b"Requests.")
    + pb_family(b"fid_temp", 1, [pb_value_metric(2, 21.5)])
    + pb_family(b"fid_u", 3, [pb_value_metric(5, 1)])
)
# Summary with 2 quantiles (4 samples), histogram without +Inf bucket (2 + 2 + 1), histogram
# with +Inf listed (2 + 2), an empty family (skipped): 13 samples.
PB_SUMMARY_HISTOGRAM = (
    pb_family(b"fid_s", 2, [pb_summary(3, 1.5, [(0.5, 0.4), (0.9, 0.8)])])
    + pb_family(b"fid_h", 4, [pb_histogram(3, 1.5, [(0.1, 1), (1.0, 2)])])
    + pb_family(b"fid_i", 4, [pb_histogram(3, 1.5, [(1.0, 2), (float("inf"), 3)])])
    + pb_family(b"fid_empty", 1, [])
)
# A native histogram (zero threshold, a positive span, deltas) after a gauge.
PB_NATIVE = pb_family(b"fid_temp", 1, [pb_value_metric(2, 1)]) + pb_family(
    b"fid_n",
    4,
    [
        pb_histogram(
            3,
            1.5,
            [],
            extra=pb_tag(5, 0) + pb_varint(0)  # schema 0
            + pb_double(6, 0.001)  # zero_threshold
            + pb_bytes(12, pb_uint(1, 0) + pb_uint(2, 2))  # positive_span offset 0, length 2
            + pb_bytes(13, pb_varint(2) + pb_varint(2)),  # positive_delta 1, 1 (zigzag), packed
        )
    ],
)


class Resp:
    """One response: raw bytes, sent in parts (with a pause before each part after the first),
    then the connection kept or closed."""

    def __init__(self, parts, close=False, pause=0.0):
        self.parts = parts if isinstance(parts, list) else [parts]
        self.close = close
        self.pause = pause


def http(body, status=b"200 OK", ctype=TEXT, headers=(), version=b"HTTP/1.1", length=True):
    head = [version + b" " + status]
    if ctype is not None:
        head.append(b"Content-Type: " + ctype)
    head.extend(headers)
    if length:
        head.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def gz(data):
    return gzip.compress(data, mtime=0)


def sized(n):
    """A valid page of exactly n bytes: one sample and a padding comment."""
    sample = b"fid_a 1\n"
    pad = n - len(sample) - len(b"# \n")
    assert pad >= 0
    return b"# " + b"p" * pad + b"\n" + sample


def bomb():
    """A valid gzip body of ~1 MiB that inflates to 1 GiB of newlines (a page of no samples).

    Built from one steady-state deflate block repeated: after a full flush, compressing the same
    MiB of newlines after a window of newlines gives the same bytes every time."""
    block = b"\n" * (1 << 20)
    n = 1024
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    steady = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    last = c.compress(block) + c.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + first + steady * (n - 2) + last + struct.pack("<II", crc, (n << 20) & 0xFFFFFFFF)


def cases(ip, base):
    """(name, path, {path: Resp} on the main port, {path: Resp} on the aux port or None,
    idle_close_seconds or None, front or None). Order fixes the ports: do not reorder, append.

    A front is a dict for nginx's https server before the case: `http2` (bool), optional
    `keepalive_requests`, `keepalive_timeout`, and `replicas` (targets of the job on that one
    host:port, told apart by a label)."""
    out = []

    def add(name, routes, path="/metrics", aux=None, idle=None, front=None):
        out.append((name, path, routes, aux, idle, front))

    ok = {"/metrics": Resp(http(VALID))}
    add("text_valid", ok)
    add("om_valid", {"/metrics": Resp(http(VALID_OM + b"# EOF\n", ctype=OM))})
    add("om_no_eof", {"/metrics": Resp(http(VALID_OM, ctype=OM))})
    add("plain_hello", {"/metrics": Resp(http(b"hello", ctype=b"text/plain"))})
    add(
        "html_login",
        {
            "/metrics": Resp(
                http(
                    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
                    b"<body><form method=post><input name=user></form></body></html>\n",
                    ctype=b"text/html; charset=utf-8",
                )
            )
        },
    )
    add("invalid_value", {"/metrics": Resp(http(b"fid_a 1\nfid_b one\nfid_c 3\n"))})
    add("invalid_name", {"/metrics": Resp(http(b"fid_a 1\nfid-b 2\nfid_c 3\n"))})
    add("invalid_utf8_label", {"/metrics": Resp(http(b'fid_a 1\nfid_b{x="\xff\xfe"} 2\nfid_c 3\n'))})
    add("unknown_type", {"/metrics": Resp(http(b"# TYPE fid_a bogus\nfid_a 1\nfid_c 3\n"))})
    add("nul_middle", {"/metrics": Resp(http(b"fid_a 1\nfid_b 2\n\x00fid_c 3\nfid_d 4\n"))})
    add("empty_200", {"/metrics": Resp(http(b""))})
    add("status_503", {"/metrics": Resp(http(b"overloaded, try later\n", status=b"503 Service Unavailable"))})
    add("status_404", {"/metrics": Resp(http(b"404 page not found\n", status=b"404 Not Found"))})
    add(
        "redirect_301",
        {
            "/metrics": Resp(http(b"moved\n", status=b"301 Moved Permanently", headers=[b"Location: /real"])),
            "/real": Resp(http(VALID)),
        },
    )
    # Filled in below, once the port is known.
    add("redirect_port", {}, aux={"/metrics": Resp(http(VALID))})
    add(
        "redirect_loop",
        {"/metrics": Resp(http(b"again\n", status=b"302 Found", headers=[b"Location: /metrics"]))},
    )
    add("head_3k", {"/metrics": Resp(http(VALID, headers=[b"X-Pad: " + b"a" * 3072]))})
    add("head_1m", {"/metrics": Resp(http(VALID, headers=[b"X-Pad: " + b"a" * (1 << 20)]))})
    add(
        "headers_120",
        {"/metrics": Resp(http(VALID, headers=[b"X-H%d: v" % i for i in range(120)]))},
    )
    add(
        "conn_close",
        {"/metrics": Resp(http(VALID, headers=[b"Connection: close"]), close=True)},
    )
    add("http10", {"/metrics": Resp(http(VALID, version=b"HTTP/1.0"), close=True)})
    half = len(VALID) // 2
    add(
        "chunked",
        {
            "/metrics": Resp(
                http(b"", headers=[b"Transfer-Encoding: chunked"], length=False)
                + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                % (half, VALID[:half], len(VALID) - half, VALID[half:])
            )
        },
    )
    enc = [b"Content-Encoding: gzip"]
    add("gzip", {"/metrics": Resp(http(gz(VALID), headers=enc))})
    good = gz(VALID)
    add("gzip_corrupt", {"/metrics": Resp(http(good[:10] + b"\xff" * 16 + good[26:], headers=enc))})
    add("gzip_not_gzip", {"/metrics": Resp(http(VALID, headers=enc))})
    add(
        "gzip_two_members",
        {"/metrics": Resp(http(gz(VALID[: half + 3]) + gz(VALID[half + 3 :]), headers=enc))},
    )
    add("gzip_upper_case", {"/metrics": Resp(http(gz(VALID), headers=[b"Content-Encoding: GZIP"]))})
    add("body_limit_exact", {"/metrics": Resp(http(sized(100)))})
    add("body_limit_under", {"/metrics": Resp(http(sized(99)))})
    add("sample_limit", {"/metrics": Resp(http(VALID))})
    add("label_limit", {"/metrics": Resp(http(b'fid_a{a="1",b="2",c="3"} 1\n'))})
    add("label_name_length", {"/metrics": Resp(http(b'fid_a{a_very_long_label_name="1"} 1\n'))})
    add("label_value_length", {"/metrics": Resp(http(b'fid_a{a="a very long label value"} 1\n'))})
    add(
        "slow_body",
        {"/metrics": Resp([http(VALID)[:-half], http(VALID)[-half:]], pause=2.0)},
    )
    add("gzip_bomb", {"/metrics": Resp(http(bomb(), headers=enc))})
    add("idle_close", {"/metrics": Resp(http(VALID))}, idle=0.5)
    add("no_content_type", {"/metrics": Resp(http(VALID, ctype=None))})
    add(
        "short_body",
        {"/metrics": Resp(http(VALID, length=False).replace(b"\r\n\r\n", b"\r\nContent-Length: 500\r\n\r\n", 1), close=True)},
    )

    # Found while building the suite: what a streaming parser and an HTTP client can get wrong.
    add(
        "histogram",
        {
            "/metrics": Resp(
                http(
                    b"# TYPE fid_h histogram\n"
                    b'fid_h_bucket{le="0.1"} 1\nfid_h_bucket{le="1"} 2\nfid_h_bucket{le="+Inf"} 3\n'
                    b"fid_h_sum 1.5\nfid_h_count 3\n"
                    b"# TYPE fid_s summary\n"
                    b'fid_s{quantile="0.5"} NaN\nfid_s_sum 0\nfid_s_count 0\n'
                )
            )
        },
    )
    add("om_as_text", {"/metrics": Resp(http(VALID_OM + b"# EOF\n", ctype=TEXT))})
    add("text_as_openmetrics", {"/metrics": Resp(http(VALID, ctype=OM))})
    add("crlf_lines", {"/metrics": Resp(http(VALID.replace(b"\n", b"\r\n")))})
    add("no_final_newline", {"/metrics": Resp(http(VALID[:-1]))})
    add("duplicate_series", {"/metrics": Resp(http(b"fid_a 1\nfid_a 2\nfid_c 3\n"))})
    add("utf8_bom", {"/metrics": Resp(http(b"\xef\xbb\xbf" + VALID))})
    add(
        "escapes",
        {"/metrics": Resp(http(b'fid_a{x="q\\"uote",y="back\\\\slash",z="new\\nline"} 1\nfid_b +Inf\nfid_c -1e-3\n'))},
    )
    add("status_204", {"/metrics": Resp(http(b"", status=b"204 No Content", length=False))})
    add(
        "early_hints_103",
        {"/metrics": Resp(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" + http(VALID))},
    )
    add("lf_only_head", {"/metrics": Resp(http(VALID).replace(b"\r\n", b"\n"))})
    add("trailing_garbage", {"/metrics": Resp(http(VALID) + b"garbage after the body\r\n")})

    add("head_8k", {"/metrics": Resp(http(VALID, headers=[b"X-Pad: " + b"a" * 8192]))})
    add("head_100k", {"/metrics": Resp(http(VALID, headers=[b"X-Pad: " + b"a" * 102400]))})
    zipped = gz(VALID)
    add(
        "gzip_chunked",
        {
            "/metrics": Resp(
                http(b"", headers=enc + [b"Transfer-Encoding: chunked"], length=False)
                + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                % (20, zipped[:20], len(zipped) - 20, zipped[20:])
            )
        },
    )

    # HTTP/2 for https targets (enable_http2), behind nginx: what a stream's failure, a GOAWAY
    # and an idle close do to the one connection, and that a job's targets share it.
    h2 = {"http2": True}
    add("h2_valid", ok, front=h2)
    # 0.4 s per answer, 3 targets a second: their scrapes overlap, HTTP/1.1 would need 2+.
    slowish = {"/metrics": Resp([http(VALID)[:-half], http(VALID)[-half:]], pause=0.4)}
    add("h2_shared", slowish, front=dict(h2, replicas=3))
    add("h2_disabled", ok, front=h2)
    add("https_h1_only", ok, front={"http2": False})
    add("h2_timeout", {"/metrics": Resp([http(VALID)[:-half], http(VALID)[-half:]], pause=2.0)}, front=h2)
    add("h2_body_limit", {"/metrics": Resp(http(sized(200)))}, front=h2)
    add("h2_status_503", {"/metrics": Resp(http(b"overloaded\n", status=b"503 Service Unavailable"))}, front=h2)
    add("h2_gzip", {"/metrics": Resp(http(gz(VALID), headers=enc))}, front=h2)
    add("h2_goaway", ok, front=dict(h2, keepalive_requests=2))
    add("h2_idle_close", ok, front=dict(h2, keepalive_timeout="300ms"))

    add("proto_valid", {"/metrics": Resp(http(PB_VALID, ctype=PB))})
    add("proto_summary_histogram", {"/metrics": Resp(http(PB_SUMMARY_HISTOGRAM, ctype=PB))})
    add("proto_truncated", {"/metrics": Resp(http(PB_VALID[:-5], ctype=PB))})
    add("proto_garbage", {"/metrics": Resp(http(b"this is not protobuf\n", ctype=PB))})
    add("proto_bad_varint", {"/metrics": Resp(http(PB_VALID + b"\xff" * 6, ctype=PB))})
    add(
        "proto_wrong_wire_type",
        {"/metrics": Resp(http(PB_VALID + pb_varint(3) + pb_uint(1, 7), ctype=PB))},
    )
    add(
        "proto_bad_label_name",
        {"/metrics": Resp(http(pb_family(b"fid_g", 1, [pb_value_metric(2, 1, [(b"a-b", b"x")])]), ctype=PB))},
    )
    add("proto_native_histogram", {"/metrics": Resp(http(PB_NATIVE, ctype=PB))})
    add("proto_empty", {"/metrics": Resp(http(b"", ctype=PB))})

    # Redirects and the Location resolver: dot segments (RFC 3986), credentials to another port.
    add(
        "redirect_dot_segments",
        {
            "/a/b/metrics": Resp(http(b"moved\n", status=b"302 Found", headers=[b"Location: ../../c/./real/../metrics"])),
            "/c/metrics": Resp(http(VALID)),
        },
        path="/a/b/metrics",
    )
    add("redirect_auth_port", {}, aux={"/metrics": Resp(http(VALID))})
    # The aux port is also a target of the same job (tests/fidelity/cases.rs ALSO_SCRAPE_AUX).
    # The redirect's hop asks for /metrics?via=redirect, the aux target's own scrapes for
    # /metrics: a connection that carried both was shared (tests/fidelity.rs, `shared`).
    add(
        "redirect_to_target",
        {},
        aux={"/metrics": Resp(http(VALID)), "/metrics?via=redirect": Resp(http(VALID))},
    )

    # The redirects to another port: main port redirects to the aux port of the same case.
    for name in ("redirect_port", "redirect_auth_port", "redirect_to_target"):
        i = [c[0] for c in out].index(name)
        aux_port = base + 100 + i
        via = b"?via=redirect" if name == "redirect_to_target" else b""
        loc = b"Location: http://%s:%d/metrics%s" % (ip.encode(), aux_port, via)
        out[i][2]["/metrics"] = Resp(http(b"over there\n", status=b"302 Found", headers=[loc]))
    return out


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def __call__(self, **kw):
        kw["t"] = round(time.monotonic() - self.t0, 3)
        with self.lock:
            self.f.write(json.dumps(kw) + "\n")


def read_head(conn, buf):
    """(head bytes, rest) or (None, rest) when the client closed or the wait timed out."""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            return None, buf, "idle"
        except OSError:
            return None, buf, "error"
        if not chunk:
            return None, buf, "client"
        buf += chunk
        if len(buf) > 1 << 16:
            return None, buf, "oversized"
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest, None


def serve_conn(conn, port, cid, peer, routes, idle, log):
    log(ev="accept", port=port, conn=cid, peer=peer)
    buf = b""
    first = True
    try:
        while True:
            conn.settimeout(idle if (idle and not first) else 30.0)
            head, buf, why = read_head(conn, buf)
            if head is None:
                log(ev="closed", port=port, conn=cid, by="server_idle" if why == "idle" else why)
                return
            first = False
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            path = parts[1] if len(parts) > 1 else "?"
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            log(
                ev="request",
                port=port,
                conn=cid,
                path=path,
                ua=headers.get("user-agent", ""),
                # Whether credentials came along (never their value).
                auth="authorization" in headers,
                headers={k: headers.get(k) for k in COMPARED_HEADERS},
            )
            resp = routes.get(path) or Resp(http(b"404 page not found\n", status=b"404 Not Found"))
            conn.settimeout(30.0)
            for k, part in enumerate(resp.parts):
                if k > 0 and resp.pause:
                    time.sleep(resp.pause)
                conn.sendall(part)
            if resp.close:
                log(ev="closed", port=port, conn=cid, by="server")
                return
    except OSError as e:
        log(ev="closed", port=port, conn=cid, by="error", error=str(e))
    finally:
        try:
            conn.close()
        except OSError:
            pass


def listen(ip, port, routes, idle, log, ids):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(64)

    def loop():
        while True:
            conn, addr = s.accept()
            with ids[1]:
                ids[0] += 1
                cid = ids[0]
            threading.Thread(
                target=serve_conn,
                args=(conn, port, cid, "%s:%d" % addr, routes, idle, log),
                daemon=True,
            ).start()

    threading.Thread(target=loop, daemon=True).start()


def main():
    ip, base, manifest, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    log = Log(logpath)
    ids = [0, threading.Lock()]
    entries = []
    for i, (name, path, routes, aux, idle, front) in enumerate(cases(ip, base)):
        port = base + i
        listen(ip, port, routes, idle, log, ids)
        aux_ports = []
        if aux is not None:
            listen(ip, base + 100 + i, aux, idle, log, ids)
            aux_ports.append(base + 100 + i)
        entry = {"name": name, "port": port, "path": path, "aux_ports": aux_ports}
        if front is not None:
            entry["front"] = dict(front, port=base + 200 + i)
        entries.append(entry)
    with open(manifest, "w") as f:
        json.dump(entries, f)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
