#!/usr/bin/env python3
"""moto_server, with each request handled atomically.

DynamoDB applies a conditional write to an item atomically; moto applies an update expression one
action at a time, so a concurrent request can see a half-written item. Tests that race 50 writers
need DynamoDB's guarantee, so requests run one at a time here (connections are still concurrent).
Usage: moto_atomic.py -H 127.0.0.1 -p PORT (the same arguments as moto_server).
"""
import sys
import threading

from moto import server

_lock = threading.Lock()
_run_simple = server.run_simple


def _serialised(app):
    def handle(environ, start_response):
        with _lock:
            # Consume the response inside the lock: the write is complete before anyone else reads.
            return list(app(environ, start_response))

    return handle


def _run_simple_serialised(host, port, app, *args, **kwargs):
    return _run_simple(host, port, _serialised(app), *args, **kwargs)


server.run_simple = _run_simple_serialised

if __name__ == "__main__":
    server.main(sys.argv[1:])
