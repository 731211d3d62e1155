#!/usr/bin/env python3
"""A small HTTP forward proxy for tests/attach.rs (a job with proxy_url): absolute-form GETs,
keep-alive towards the client and towards each upstream, one upstream connection per client
connection and upstream address. Usage: forward_proxy.py IP PORT; prints "ready" when
listening. Test-only: no CONNECT, no auth, nothing but GET."""

import http.client
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te",
       "trailer", "transfer-encoding", "upgrade"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self):
        super().setup()
        self.upstream = {}

    def finish(self):
        for c in self.upstream.values():
            c.close()
        super().finish()

    def do_GET(self):
        u = urlsplit(self.path)
        if u.scheme != "http" or not u.hostname:
            self.send_error(400, "absolute http URL expected")
            return
        key = (u.hostname, u.port or 80)
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        for attempt in range(2):
            conn = self.upstream.get(key)
            if conn is None:
                conn = http.client.HTTPConnection(key[0], key[1], timeout=10)
                self.upstream[key] = conn
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                break
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                del self.upstream[key]
                if attempt == 1:
                    self.send_error(502, str(e))
                    return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    server = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Proxy)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
