"""A Lambda Runtime API server (the protocol Lambda speaks to a runtime), for the benchmark.

It hands queued events out on `GET /2018-06-01/runtime/invocation/next`, accepts
`/invocation/{id}/response`, `/invocation/{id}/error` and `/init/error`, and timestamps all of it
with `time.perf_counter_ns()` (the driver uses the same clock for process starts).

Every function process gets a *generation* (`new_generation()` before spawning it), and every
connection the generation in which it was accepted: a `next` on a connection from an earlier process
(still waiting, or written just before that process was killed) is abandoned, so a killed process can
never swallow an event meant for the next one.

Standalone use (prints the address, serves until Ctrl-C; events from a JSON-lines file):
    python bench/runtime_api.py [events.jsonl]
"""

from __future__ import annotations

import collections
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from count_proxy import read_body

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:ingest"


def now_ns() -> int:
    return time.perf_counter_ns()


class Invocation:
    __slots__ = ("id", "payload", "handed_ns", "done_ns", "kind", "body", "gen")

    def __init__(self, id_: str, payload: bytes):
        self.id = id_
        self.payload = payload
        self.handed_ns: int | None = None
        self.done_ns: int | None = None
        self.kind: str | None = None  # "response" | "error"
        self.body: bytes | None = None
        self.gen: int | None = None

    @property
    def latency_ms(self) -> float:
        return (self.done_ns - self.handed_ns) / 1e6


class RuntimeApi:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, deadline_s: float = 60.0):
        self.deadline_s = deadline_s
        self.cond = threading.Condition()
        self.queue: collections.deque[Invocation] = collections.deque()
        self.invocations: dict[str, Invocation] = {}
        self.gen = 0
        self.conn_gens: dict[int, int] = {}  # socket fd → generation at accept (see Handler.setup)
        self.first_poll_ns: dict[int, int] = {}
        self.polls: list[tuple[int, int]] = []  # (generation, arrival ns)
        self.init_errors: list[tuple[int, bytes]] = []
        self.completed = 0
        self.closed = False
        self._seq = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def setup(self):
                super().setup()
                # A connection belongs to the generation in which it was accepted (recorded by the
                # accepting thread, below): a killed process's keep-alive connection can still carry
                # a `next` it wrote just before dying, and that poll must not count as (or take an
                # event meant for) the next process.
                with api.cond:
                    self.conn_gen = api.conn_gens.pop(self.request.fileno(), api.gen)

            def _body(self) -> bytes:
                return read_body(self)

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Accepted' if status == 202 else 'Error'}"]
                lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
                lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
                self.wfile.write("\r\n".join(lines).encode() + body)

            def do_GET(self):
                arrived = now_ns()
                if self.path != f"{PREFIX}/invocation/next":
                    self._send(404, b'{"errorMessage":"not found"}')
                    return
                with api.cond:
                    gen = self.conn_gen
                    if gen != api.gen:
                        self.close_connection = True
                        return
                    api.polls.append((gen, arrived))
                    if gen not in api.first_poll_ns:
                        api.first_poll_ns[gen] = arrived
                        api.cond.notify_all()
                    while not api.queue and api.gen == gen and not api.closed:
                        api.cond.wait()
                    if api.gen != gen or api.closed:
                        # The process this poll came from is gone (or we are shutting down).
                        self.close_connection = True
                        return
                    inv = api.queue.popleft()
                deadline_ms = int(time.time() * 1000 + api.deadline_s * 1000)
                inv.gen = gen
                inv.handed_ns = now_ns()  # before the write, so a fast reply can never precede it
                self._send(
                    200,
                    inv.payload,
                    {
                        "Lambda-Runtime-Aws-Request-Id": inv.id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{inv.id[-12:]:0>24};Sampled=0",
                    },
                )

            def do_POST(self):
                body = self._body()
                done = now_ns()
                path = self.path
                if path == f"{PREFIX}/init/error":
                    with api.cond:
                        api.init_errors.append((api.gen, body))
                        api.cond.notify_all()
                    self._send(202, b'{"status":"OK"}')
                    return
                parts = path[len(PREFIX):].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with api.cond:
                        inv = api.invocations.get(parts[1])
                        if inv is None or inv.done_ns is not None:
                            self._send(400, b'{"errorMessage":"unknown or finished request id"}')
                            return
                        inv.done_ns, inv.kind, inv.body = done, parts[2], body
                        api.completed += 1
                        api.cond.notify_all()
                    self._send(202, b'{"status":"OK"}')
                    return
                self._send(404, b'{"errorMessage":"not found"}')

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A killed function process resets its connection: expected, not worth a traceback.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)
            allow_reuse_address = True

            def server_bind(self):
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().server_bind()

            def process_request(self, request, client_address):
                # Runs in the accepting thread: the generation at accept time, for Handler.setup.
                with api.cond:
                    api.conn_gens[request.fileno()] = api.gen
                super().process_request(request, client_address)

        self.server = Server((host, port), Handler)
        self.address = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True)
        self.thread.start()

    # --- driver side ---

    def new_generation(self) -> int:
        """Call before starting a function process; abandons polls from earlier processes."""
        with self.cond:
            self.gen += 1
            self.queue.clear()
            self.cond.notify_all()
            return self.gen

    def wait_first_poll(self, gen: int, timeout: float) -> int | None:
        """The arrival time (ns) of generation `gen`'s first `next`, or None on timeout/init error."""
        end = time.monotonic() + timeout
        with self.cond:
            while gen not in self.first_poll_ns:
                if any(g == gen for g, _ in self.init_errors):
                    return None
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.first_poll_ns[gen]

    def wait_polls(self, gen: int, n: int, timeout: float) -> bool:
        """Whether `n` polls of generation `gen` arrived within `timeout`. Several processes may
        share a generation (the burst phase's instances behind one queue): before any event is
        queued each polls exactly once, so `n` polls are `n` processes ready."""
        end = time.monotonic() + timeout
        with self.cond:
            while sum(g == gen for g, _ in self.polls) < n:
                left = end - time.monotonic()
                if left <= 0 or any(g == gen for g, _ in self.init_errors):
                    return False
                self.cond.wait(min(left, 0.5))
            return True

    def enqueue(self, payloads: list[bytes]) -> list[Invocation]:
        invs = []
        with self.cond:
            for p in payloads:
                self._seq += 1
                inv = Invocation(f"bench-{self._seq:08d}-0000-0000-0000-{self._seq:012d}", p)
                self.invocations[inv.id] = inv
                invs.append(inv)
            self.queue.extend(invs)
            self.cond.notify_all()
        return invs

    def wait_done(self, invs: list[Invocation], timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self.cond:
            while any(i.done_ns is None for i in invs):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 1.0))
            return True

    def invoke(self, payloads: list[bytes], timeout: float) -> list[Invocation]:
        invs = self.enqueue(payloads)
        if not self.wait_done(invs, timeout):
            done = sum(i.done_ns is not None for i in invs)
            raise TimeoutError(f"only {done}/{len(invs)} invocations finished within {timeout:.0f} s")
        return invs

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    api = RuntimeApi()
    print(f"runtime API listening on {api.address} (export AWS_LAMBDA_RUNTIME_API={api.address})", flush=True)
    api.new_generation()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as f:
            invs = api.enqueue([line.strip() for line in f if line.strip()])
        api.wait_done(invs, 3600)
        for i in invs:
            print(json.dumps({"id": i.id, "kind": i.kind, "latency_ms": i.latency_ms, "body": i.body.decode()}))
    else:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    api.close()
