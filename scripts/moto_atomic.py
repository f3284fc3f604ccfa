#!/usr/bin/env python3
"""moto_server, with each request handled atomically.

DynamoDB applies a conditional write to an item atomically; moto applies an update expression one
action at a time, so a concurrent request can see a half-written item. Tests that race 50 writers
need DynamoDB's guarantee, so requests run one at a time here (connections are still concurrent).
Usage: moto_atomic.py -H 127.0.0.1 -p PORT (the same arguments as moto_server).
`serialised` is also the core of bench/dynamodb_peer.py.
"""
import sys
import threading

from moto import server


def serialised(app):
    """The WSGI app `app`, one request at a time."""
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # Consume (and close, as WSGI requires) the response inside the lock: the write is
            # complete before anyone else reads.
            result = app(environ, start_response)
            try:
                return list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()

    return handle


def _run_simple_serialised(run_simple):
    def run(host, port, app, *args, **kwargs):
        return run_simple(host, port, serialised(app), *args, **kwargs)

    return run


if __name__ == "__main__":
    server.run_simple = _run_simple_serialised(server.run_simple)
    server.main(sys.argv[1:])
