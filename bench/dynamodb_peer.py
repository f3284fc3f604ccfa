#!/usr/bin/env python3
"""moto's DynamoDB, served with HTTP/1.1 keep-alive: the benchmark's DynamoDB peer.

`moto_server` runs on Werkzeug's development server, which answers every request with
`Connection: close` (and lingers 10 ms draining the socket). Real DynamoDB keeps connections open,
and both SDKs (botocore's urllib3 pool, the Rust SDK's hyper pool) reuse them, so with moto_server
every request of both functions paid a TCP connect, a getaddrinfo-free but still costly socket set-up
and teardown that no Lambda function pays in production. Here the same moto application runs under
waitress (a production WSGI server: keep-alive, TCP_NODELAY), one request at a time like moto_server's
own lock would allow, and each request is logged as `METHOD PATH STATUS TARGET` for the round-trip
counts.

Usage: dynamodb_peer.py --port PORT --log FILE
"""
import argparse
import sys
import threading
from pathlib import Path

import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from moto_atomic import serialised  # noqa: E402  (the tests' moto runs requests the same way)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()

    # One request at a time (DynamoDB applies a conditional write atomically; moto does it one
    # action at a time).
    app = serialised(DomainDispatcherApplication(create_backend_app))
    log = open(args.log, "a", buffering=1)
    log_lock = threading.Lock()

    def logged(environ, start_response):
        status = []

        def start(s, headers, exc_info=None):
            status.append(s.split(" ", 1)[0])
            return start_response(s, headers, exc_info)

        body = app(environ, start)
        target = environ.get("HTTP_X_AMZ_TARGET", "-")
        code = status[0] if status else "500"
        with log_lock:
            log.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '/')} {code} {target}\n")
        return body

    print(f"dynamodb peer (moto under waitress, keep-alive) on http://{args.host}:{args.port}", flush=True)
    # 4 threads: the driver creates tables while a function process is connected.
    waitress.serve(logged, host=args.host, port=args.port, threads=4, ident="moto",
                   channel_timeout=300, _quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
