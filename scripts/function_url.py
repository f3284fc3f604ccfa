#!/usr/bin/env python3
"""A local Lambda Function URL for the demo: HTTP requests become payload-format-2.0 events, delivered
to a function through the Lambda Runtime API with `cargo lambda invoke`, and its response goes back
as HTTP. (The tests use the Rust twin in crates/vinofy-test-support/src/harness/function_url.rs.)

Usage: function_url.py LISTEN_PORT RUNTIME_API_PORT
"""
import base64
import json
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.do_POST()

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path, _, query = self.path.partition("?")
        try:
            body, is_b64 = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body, is_b64 = base64.b64encode(raw).decode(), True
        event = {
            "version": "2.0", "rawPath": path, "rawQueryString": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body, "isBase64Encoded": is_b64,
            "requestContext": {"http": {"method": self.command, "path": path, "sourceIp": self.client_address[0]},
                               "timeEpoch": int(time.time() * 1000)},
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(event, f)
            f.flush()
            out = subprocess.run(
                ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", sys.argv[2],
                 "--data-file", f.name, "--output-format", "json"], capture_output=True, text=True, timeout=60)
        try:
            reply = json.loads(out.stdout)
            status, text = int(reply.get("statusCode", 200)), reply.get("body") or ""
            headers = reply.get("headers") or {}
        except ValueError:
            status, text, headers = 502, "the function failed", {}
        self.send_response(status)
        headers.setdefault("content-type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, fmt, *args):
        sys.stderr.write("function-url: " + (fmt % args) + "\n")


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
