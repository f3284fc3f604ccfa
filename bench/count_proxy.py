"""A small counting HTTP/1.1 reverse proxy for the benchmark's round-trip counts.

Put it in front of a peer (S3 or DynamoDB) and give the function the proxy's address as the
endpoint: every request is forwarded unchanged (the Host header too, so SigV4 signatures, which
sign the host, still verify at the peer) and logged as
`{"method", "path", "target", "presigned", "status", "upstream_ms", "request_bytes"}` (`target` = the `X-Amz-Target` header, i.e.
the DynamoDB operation; `presigned` = the query carries `X-Amz-Signature`, i.e. the request came
through a presigned URL, not from an SDK).
"""

from __future__ import annotations

import http.client
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, whether sent with Content-Length or chunked (as hyper may send it)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    n = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(n) if n else b""


class CountingProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0):
        u = urlsplit(upstream)
        self.upstream = (u.hostname, u.port or 80)
        self.log: list[dict] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                return read_body(self)

            def _forward(self):
                body = self._body()
                entry = {
                    "method": self.command,
                    "path": self.path.split("?", 1)[0],
                    "target": self.headers.get("X-Amz-Target"),
                    "presigned": "X-Amz-Signature=" in self.path,
                    "status": None,
                }
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                t0 = time.perf_counter_ns()
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        if k.lower() not in HOP_BY_HOP:
                            conn.putheader(k, v)
                    if body or self.command in ("POST", "PUT", "PATCH"):
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body or None)
                    resp = conn.getresponse()
                    data = resp.read()
                    entry["status"] = resp.status
                    entry["upstream_ms"] = (time.perf_counter_ns() - t0) / 1e6
                    entry["request_bytes"] = len(body)
                    self.send_response_only(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in HOP_BY_HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError:
                    self.close_connection = True
                finally:
                    conn.close()
                    with proxy.lock:
                        proxy.log.append(entry)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A killed function process resets its connection: expected, not worth a traceback.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server((host, port), Handler)
        self.url = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="count-proxy", daemon=True).start()

    def mark(self) -> int:
        with self.lock:
            return len(self.log)

    def since(self, mark: int) -> list[dict]:
        with self.lock:
            return list(self.log[mark:])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
