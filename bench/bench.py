"""Benchmark driver: the Rust `ingest` function vs the Python baseline, on local peers, in one run.

Run through `bash bench/run.sh` (it builds and installs what this needs, then runs this with
bench/.venv's Python). Everything is measured from outside the function processes:

* init: process spawn -> first `GET .../invocation/next` at our Runtime API (perf_counter, same clock)
* warm latency: event handed out on `next` -> its `/response` received
* CPU: utime+stime from /proc/<pid>/stat, before and after a phase, / events
* peak RSS: VmHWM from /proc/<pid>/status
* round trips: counted at the peers (moto's request log, the emulator's request log, a counting proxy)
* burst (Rust only): K instances behind one queue, the shared call budget against a scaled-down
  Cloudflare limit; calls timed by the emulator's request log (`at_ms`), see burst_run()

Settings (env): BENCH_PHASES (main,burst), EVENTS (1000), COLD_STARTS (20), WARMUP_EVENTS (5),
COUNT_EVENTS (20), BURST_* (see below and bench/README.md), BENCH_WORKDIR (scratch dir),
BENCH_RESULTS (bench/results), BENCH_TARGET_DIR / CARGO_TARGET_DIR (where the release binaries are).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import heapq
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote_plus

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
import burst_stats  # noqa: E402
from count_proxy import CountingProxy  # noqa: E402
from runtime_api import RuntimeApi, now_ns  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
EVENTS = int(os.environ.get("EVENTS", "1000"))
COLD_STARTS = int(os.environ.get("COLD_STARTS", "20"))
WARMUP_EVENTS = int(os.environ.get("WARMUP_EVENTS", "5"))
COUNT_EVENTS = int(os.environ.get("COUNT_EVENTS", str(min(20, EVENTS))))
FIRST_EVENTS = int(os.environ.get("FIRST_EVENTS", str(COLD_STARTS)))
WORK = Path(os.environ.get("BENCH_WORKDIR") or f"/tmp/vinofy-bench-{os.getpid()}")
RESULTS = Path(os.environ.get("BENCH_RESULTS") or BENCH / "results")

ACCESS_KEY, SECRET_KEY, REGION = "bench-access-key", "bench-secret-key-0123456789", "us-east-1"
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
CF_TOKEN = "bench-cloudflare-token-0123456789"
BUCKET = "vinofy-bench"
FIXTURE = ROOT / "fixtures" / "sample.mp4"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Cargo's target directory: run.sh passes the one cargo used (BENCH_TARGET_DIR, from cargo metadata);
# run directly, CARGO_TARGET_DIR (relative to the workspace root, where cargo runs) or target/.
TARGET_DIR = Path(os.environ.get("BENCH_TARGET_DIR") or os.environ.get("CARGO_TARGET_DIR") or "target")
TARGET_DIR = TARGET_DIR if TARGET_DIR.is_absolute() else ROOT / TARGET_DIR
# BENCH_RUST_BIN: measure another build (e.g. an unstripped one under `perf record`).
RUST_BIN = Path(os.environ.get("BENCH_RUST_BIN") or TARGET_DIR / "release" / "ingest")
EMULATOR_BIN = TARGET_DIR / "release" / "stream-emulator"
# DynamoDB: moto's application under a keep-alive server (bench/dynamodb_peer.py), run by the .venv
# that scripts/setup.sh installs (moto and waitress).
MOTO_PY = Path(os.environ.get("BENCH_PEERS_VENV") or ROOT / ".venv") / "bin" / "python"
DYNAMODB_PEER = BENCH / "dynamodb_peer.py"
TLS_PROXY = ROOT / "scripts" / "tls_proxy.py"
S3S_BIN = Path(shutil.which("s3s-fs") or Path.home() / ".cargo" / "bin" / "s3s-fs")
BENCH_VENV = Path(os.environ.get("BENCH_VENV") or BENCH / ".venv")
PY_BIN = BENCH_VENV / "bin" / "python"
PY_TASK_ROOT = BENCH / "baseline"

IMPLS = ("rust", "python")

# Phases: "main" (everything Rust vs Python: zips, cold starts, first events, warm and counting runs)
# and "burst" (the Rust function only: the shared call budget under a burst, see burst_run()).
PHASES = [p.strip() for p in os.environ.get("BENCH_PHASES", "main,burst").split(",") if p.strip()]
if not PHASES or set(PHASES) - {"main", "burst"}:
    raise SystemExit(f"BENCH_PHASES={os.environ.get('BENCH_PHASES')!r}: a comma-separated list of main, burst")

# The burst phase. Cloudflare's limit (1200 calls per 300 s, then a 300 s lock-out) and the budget
# production takes of it (CLOUDFLARE_CALL_BUDGET=1000/300) are both scaled down to a 10 s window, so
# 1000 uploads take ~100 s instead of ~300 min.
try:
    BURST_UPLOADS = int(os.environ.get("BURST_UPLOADS", "1000"))
    BURST_INSTANCES = int(os.environ.get("BURST_INSTANCES", "5"))
    BURST_RATE_LIMIT = os.environ.get("BURST_RATE_LIMIT", "120/10")
    _LIMIT_N, _LIMIT_W = burst_stats.parse_rate(BURST_RATE_LIMIT, "BURST_RATE_LIMIT")
    # Default: the budget's share of the limit as in production (1000 of 1200), over the same window.
    BURST_BUDGET = os.environ.get("BURST_BUDGET") or f"{_LIMIT_N * 1000 // 1200}/{_LIMIT_W}"
    burst_stats.parse_rate(BURST_BUDGET, "BURST_BUDGET")
    # Production's function timeout (template.yaml: Timeout 60), not scaled: the per-invocation
    # deadline the Runtime API hands out.
    BURST_DEADLINE_S = float(os.environ.get("BURST_DEADLINE_S", "60"))
    # Lambda's asynchronous invocation retries a function error about 1 min, then 2 min later
    # (MaximumRetryAttempts 2): scaled by the limit's window / 300 s (2 s, then 4 s at 120/10).
    BURST_RETRY_DELAY_S = float(os.environ.get("BURST_RETRY_DELAY_S", str(60 * _LIMIT_W / 300)))
    BURST_MAX_IN_FLIGHT = int(os.environ.get("BURST_MAX_IN_FLIGHT", "100000"))
    BURST_PROCESSING_DELAY_MS = int(os.environ.get("BURST_PROCESSING_DELAY_MS", "10"))
except ValueError as e:
    raise SystemExit(f"burst settings: {e}")
if BURST_UPLOADS < 1 or BURST_INSTANCES < 1:
    raise SystemExit("BURST_UPLOADS and BURST_INSTANCES must be at least 1")
BURST_MAX_RETRIES = 2  # template.yaml: MaximumRetryAttempts: 2


def log(msg: str) -> None:
    print(f"\033[1;34m==>\033[0m {msg}", file=sys.stderr, flush=True)


# --- processes -------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CHILDREN: list[subprocess.Popen] = []


def _die_with_parent() -> None:
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the driver


def spawn(cmd, *, stdout=None, stderr=None, env=None, cwd=None, track=True, tie=True) -> subprocess.Popen:
    """`tie`: the child gets SIGKILL when the driver dies. That needs a `preexec_fn`, which makes
    Python fork the whole driver (~3 ms here) instead of vfork (~0.1 ms): cold starts, whose clock
    starts just before this call, use `tie=False` (they are killed right after their first poll)."""
    p = subprocess.Popen(
        [str(c) for c in cmd], stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
        stdin=subprocess.DEVNULL, env=env, cwd=cwd, preexec_fn=_die_with_parent if tie else None,
    )
    if track:
        CHILDREN.append(p)
    return p


def stop(p: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def stop_all() -> None:
    for p in list(CHILDREN):
        stop(p)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, what: str, proc: subprocess.Popen, timeout=60.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited with {proc.returncode} before listening")
            if time.monotonic() > end:
                raise SystemExit(f"{what} did not listen on {port} within {timeout:.0f} s")
            time.sleep(0.05)


def system_busy_ticks() -> int:
    """All CPUs' non-idle time since boot (/proc/stat), in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # minus idle, iowait


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of a process, all threads, in clock ticks (fields 14 and 15 of /proc/pid/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]), int(rest[12])


def proc_status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


# --- statistics ------------------------------------------------------------------------------------


def pct(values, p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def summary(values) -> dict:
    return {
        "n": len(values), "median": statistics.median(values), "p90": pct(values, 90), "p99": pct(values, 99),
        "min": min(values), "max": max(values), "mean": statistics.fmean(values),
    }


# --- the local world -------------------------------------------------------------------------------

_EMULATOR_HELP: str | None = None


def emulator_help() -> str:
    global _EMULATOR_HELP
    if _EMULATOR_HELP is None:
        _EMULATOR_HELP = subprocess.run([EMULATOR_BIN, "--help"], capture_output=True, text=True).stdout
    return _EMULATOR_HELP


class Emulator:
    """A stream-emulator process (on a free port), with `args` on top of the account and token."""

    def __init__(self, log_path: Path, args: list):
        self.proc = spawn(
            [EMULATOR_BIN, "--listen", "127.0.0.1:0", "--account-id", ACCOUNT_ID, "--token", CF_TOKEN, *args],
            stdout=subprocess.PIPE, stderr=open(log_path, "wb"),
        )
        line = self.proc.stdout.readline().decode().strip()
        m = re.search(r"(http://\S+)$", line)
        if not m:
            raise SystemExit(f"stream-emulator did not print its address (got {line!r}; see {log_path})")
        self.base = m.group(1)
        self.cf_api = f"{self.base}/client/v4"

    def call(self, path: str, method="GET"):
        req = urllib.request.Request(f"{self.base}{path}", method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def close(self) -> None:
        stop(self.proc)


class World:
    def __init__(self):
        self.warnings: list[str] = []
        WORK.mkdir(parents=True, exist_ok=True)
        self.logs = WORK / "logs"
        self.logs.mkdir(exist_ok=True)
        (WORK / "home").mkdir(exist_ok=True)  # an empty HOME: no ~/.aws/config for either function
        s3_root = WORK / "s3"
        s3_root.mkdir(exist_ok=True)

        s3_port = free_port()
        self.s3_proc = spawn(
            [S3S_BIN, "--host", "127.0.0.1", "--port", s3_port, "--access-key", ACCESS_KEY,
             "--secret-key", SECRET_KEY, s3_root],
            stderr=open(self.logs / "s3s-fs.log", "wb"),
        )
        moto_port = free_port()
        self.moto_log_path = self.logs / "moto.log"
        self.moto_proc = spawn([MOTO_PY, DYNAMODB_PEER, "--port", moto_port, "--log", self.moto_log_path],
                               stderr=open(self.logs / "moto.err", "wb"), stdout=open(self.logs / "moto.out", "wb"))
        # Rate limit raised: both functions' copies together exceed the default 1200 per 300 s.
        # Transcoding off (where the emulator has it): an ffmpeg run per copied video would compete
        # with the functions for the CPUs; the functions never see its result anyway.
        extra = ["--transcode", "off"] if "--transcode" in emulator_help() else []
        emu = Emulator(self.logs / "stream-emulator.log", ["--rate-limit", "1000000/1", *extra])
        self.emu_proc, self.emu_base, self.cf_api = emu.proc, emu.base, emu.cf_api
        self.s3_url = f"http://127.0.0.1:{s3_port}"
        self.ddb_url = f"http://127.0.0.1:{moto_port}"
        wait_port(s3_port, "s3s-fs", self.s3_proc)
        wait_port(moto_port, "moto", self.moto_proc)
        log(f"peers: s3s-fs {self.s3_url}, moto {self.ddb_url}, stream-emulator {self.emu_base}")

        # TLS in front of DynamoDB and Cloudflare, for the first-event phase only (tls_proxy.py).
        self.ca_pem = WORK / "bench-ca.pem"
        emu_hostport = self.emu_base.split("://", 1)[1].rstrip("/")
        self.tls_proc = spawn([MOTO_PY, TLS_PROXY, "--ca-out", self.ca_pem, "--forward", f"127.0.0.1:{moto_port}",
                               "--forward", emu_hostport],
                              stdout=subprocess.PIPE, stderr=open(self.logs / "tls-proxy.log", "wb"))
        tls_line = self.tls_proc.stdout.readline().decode().strip()
        try:
            tls = json.loads(tls_line)
            self.ddb_tls_url, self.cf_tls_api = tls[f"127.0.0.1:{moto_port}"], f"{tls[emu_hostport]}/client/v4"
        except (ValueError, KeyError):
            raise SystemExit(f"tls_proxy.py did not start (got {tls_line!r}; see {self.logs}/tls-proxy.log)")

        self.s3_proxy = CountingProxy(self.s3_url)
        self.ddb_proxy = CountingProxy(self.ddb_url)

        creds = dict(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
        self.s3 = boto3.client("s3", endpoint_url=self.s3_url, config=Config(s3={"addressing_style": "path"}),
                               **creds)
        self.ddb = boto3.client("dynamodb", endpoint_url=self.ddb_url, **creds)
        self.s3.create_bucket(Bucket=BUCKET)

    def create_table(self, name: str) -> str:
        self.ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"},
                                  {"AttributeName": "video_uid", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_video_uid",
                                     "KeySchema": [{"AttributeName": "video_uid", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
        )
        return name

    def upload(self, keys: list[str]) -> dict[str, str]:
        data = FIXTURE.read_bytes()

        def put(key):
            return key, self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')

        with ThreadPoolExecutor(4) as pool:
            return dict(pool.map(put, keys))

    def emulator(self, path: str, method="GET"):
        req = urllib.request.Request(f"{self.emu_base}{path}", method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def scan(self, table: str) -> list[dict]:
        items = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items += page["Items"]
        return items

    def reset_emulator(self) -> None:
        self.emulator("/__emulator/reset", method="POST")

    def cf_requests(self) -> list[dict]:
        return self.emulator("/__emulator/requests")

    def moto_operations(self) -> list[str]:
        """`Operation status` of every DynamoDB request so far, from moto's request log."""
        text = self.moto_log_path.read_text(errors="replace")
        return [f"{op.split('.')[-1]} {st}" for st, op in re.findall(r"^(?:POST|GET) / (\d{3}) (\S+)", text, re.M)]

    def moto_requests(self) -> list[str]:
        text = self.moto_log_path.read_text(errors="replace")
        return re.findall(r"^(?:POST|GET) / (\d{3}) ", text, re.M)

    def settle(self, timeout=240.0) -> None:
        """Waits until the emulator has fetched and processed every video (background work that
        would otherwise compete for the 2 cores with the next phase)."""
        end = time.monotonic() + timeout
        while True:
            videos = self.emulator("/__emulator/videos") or []
            busy = [v for v in videos if not v.get("deleted")
                    and ((v.get("video") or {}).get("status") or {}).get("state") not in ("ready", "error")]
            if not busy:
                return
            if time.monotonic() > end:
                msg = f"{len(busy)} videos were still processing in the emulator after {timeout:.0f} s"
                log(f"warning: {msg}; going on")
                self.warnings.append(msg)
                return
            time.sleep(0.5)

    def function_env(self, impl: str, runtime_api: str, table: str, via_proxy: bool, tls: bool = False) -> dict:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(WORK / "home"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": "ingest",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]bench",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ingest",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_S3": self.s3_proxy.url if via_proxy else self.s3_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.ddb_proxy.url if via_proxy else self.ddb_url,
            "VIDEOS_TABLE": table,
            "UPLOAD_BUCKET": BUCKET,
            # A budget that never makes a call wait: the phases measure the function, not the pacing
            # (its two DynamoDB round trips per call are still paid and counted).
            "CLOUDFLARE_CALL_BUDGET": "1000000/1",
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID,
            "CLOUDFLARE_API_URL": self.cf_api,
            "CLOUDFLARE_API_TOKEN": CF_TOKEN,
        }
        if tls:
            # Both functions trust the throwaway CA: rustls-native-certs and OpenSSL read SSL_CERT_FILE,
            # botocore reads AWS_CA_BUNDLE.
            env.update({"AWS_ENDPOINT_URL_DYNAMODB": self.ddb_tls_url, "CLOUDFLARE_API_URL": self.cf_tls_api,
                        "SSL_CERT_FILE": str(self.ca_pem), "AWS_CA_BUNDLE": str(self.ca_pem)})
        if impl == "python":
            env.update({
                "LAMBDA_TASK_ROOT": str(PY_TASK_ROOT),
                "_HANDLER": "handler.handler",
                # Bytecode is cached (outside the repo) after the first, discarded, cold start: the
                # handler's init is measured as if its .pyc shipped, the best case for Python (on
                # Lambda /var/task is read-only, and an uncached handler.py compiles in ~10 ms at
                # every cold start; the runtime's boto3/botocore come precompiled there, as here).
                "PYTHONPYCACHEPREFIX": str(WORK / "pycache"),
            })
        return env

    def close(self):
        self.s3_proxy.close()
        self.ddb_proxy.close()


def command(impl: str) -> tuple[list, Path | None]:
    if impl == "rust":
        return [RUST_BIN], None
    return [PY_BIN, "-m", "awslambdaric", "handler.handler"], PY_TASK_ROOT


def s3_event(key: str, etag: str, size: int, sequencer: int) -> bytes:
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
               "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "EXAMPLE"},
                          "arn": f"arn:aws:s3:::{BUCKET}"},
               "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag,
                          "sequencer": f"{sequencer:018X}"}},
    }]}, separators=(",", ":")).encode()


def outcomes(invs) -> dict:
    counts: dict[str, int] = {}
    for i in invs:
        if i.kind != "response":
            k = f"invocation error: {i.body[:200].decode(errors='replace')}"
        else:
            try:
                k = ",".join(r.get("outcome", "?") for r in json.loads(i.body)["records"])
            except (ValueError, KeyError, TypeError):
                k = f"bad response: {i.body[:200]!r}"
        counts[k] = counts.get(k, 0) + 1
    return counts


# --- measurements ----------------------------------------------------------------------------------


def start_cold(world: World, api: RuntimeApi, impl: str, env: dict, log_name: str) -> tuple[subprocess.Popen, int]:
    """Spawns a fresh function process (its own Runtime API generation); returns it and its init
    time in ns (spawn → its first `next`). Not tied to the driver: vfork keeps the spawn cheap."""
    cmd, cwd = command(impl)
    gen = api.new_generation()
    with open(world.logs / f"{log_name}.log", "ab") as out:  # the child keeps its own descriptor
        t0 = now_ns()
        p = spawn(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, tie=False)
    first = api.wait_first_poll(gen, 60)
    if first is None:
        stop(p, signal.SIGKILL)
        raise SystemExit(f"{log_name}: no poll of /invocation/next within 60 s (see {world.logs}/{log_name}.log)")
    return p, first - t0


def cold_starts(world: World, api: RuntimeApi) -> dict:
    results = {impl: [] for impl in IMPLS}
    table = "bench-cold"  # never written: cold-start processes receive no event
    # One discarded start each first: page cache, and the bytecode of site-packages.
    schedule = [(impl, False) for impl in IMPLS] + [(impl, True) for _ in range(COLD_STARTS) for impl in IMPLS]
    for impl, keep in schedule:
        env = world.function_env(impl, api.address, table, via_proxy=False)
        p, init_ns = start_cold(world, api, impl, env, f"{impl}-cold")
        rss = proc_status_kb(p.pid, "VmRSS")
        stop(p, signal.SIGKILL)
        if keep:
            results[impl].append({"init_ms": init_ns / 1e6, "rss_kb_at_first_poll": rss})
    api.new_generation()
    return {impl: {"samples": r, "init_ms": summary([s["init_ms"] for s in r]),
                   "rss_kb_at_first_poll": statistics.median(s["rss_kb_at_first_poll"] for s in r)}
            for impl, r in results.items()}


def warm_run(world: World, api: RuntimeApi, impl: str, events: list[bytes], warmup: list[bytes]) -> dict:
    """One fresh process: warm-up events, then EVENTS new videos, then the same EVENTS again."""
    table = world.create_table(f"bench-{impl}")
    cmd, cwd = command(impl)
    env = world.function_env(impl, api.address, table, via_proxy=False)
    world.settle()
    world.reset_emulator()  # each implementation meets an emulator in the same (empty) state
    gen = api.new_generation()
    out = open(world.logs / f"{impl}-warm.log", "wb")
    t0 = now_ns()
    p = spawn(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    first = api.wait_first_poll(gen, 60)
    if first is None:
        raise SystemExit(f"{impl}: did not start (see {world.logs}/{impl}-warm.log)")
    res = {"init_ms": (first - t0) / 1e6, "rss_kb_after_init": proc_status_kb(p.pid, "VmRSS")}
    timeout = max(180.0, len(events) * 1.0)

    wu = api.invoke(warmup, timeout)
    res["warmup"] = {"n": len(wu), "first_invocation_ms": wu[0].latency_ms if wu else None,
                     "outcomes": outcomes(wu)}
    world.settle()

    for phase, kind in (("new", "submitted"), ("duplicate", "duplicate")):
        cf0, moto0 = len(world.cf_requests()), len(world.moto_requests())
        (user0, sys0), w0 = cpu_ticks(p.pid), now_ns()
        invs = api.invoke(events, timeout)
        (user1, sys1), w1 = cpu_ticks(p.pid), now_ns()
        ticks0, ticks1 = user0 + sys0, user1 + sys1
        moto = world.moto_requests()[moto0:]
        cf = world.cf_requests()[cf0:]
        got = outcomes(invs)
        if got != {kind: len(events)}:
            log(f"warning: {impl} {phase}: unexpected outcomes {got}")
        lat = [i.latency_ms for i in invs]
        res[phase] = {
            "events": len(invs),
            "outcomes": got,
            "latency_ms": summary(lat),
            "latency_samples_ms": [round(x, 3) for x in lat],
            "cpu_ms_per_event": (ticks1 - ticks0) * 1000 / CLK_TCK / len(invs),
            "cpu_ms_total": (ticks1 - ticks0) * 1000 / CLK_TCK,
            "user_cpu_ms_per_event": (user1 - user0) * 1000 / CLK_TCK / len(invs),
            "system_cpu_ms_per_event": (sys1 - sys0) * 1000 / CLK_TCK / len(invs),
            "wall_s": (w1 - w0) / 1e9,
            "events_per_s": len(invs) / ((w1 - w0) / 1e9),
            "vmhwm_kb": proc_status_kb(p.pid, "VmHWM"),
            "vmrss_kb": proc_status_kb(p.pid, "VmRSS"),
            "dynamodb_requests": len(moto),
            "dynamodb_by_status": {s: moto.count(s) for s in sorted(set(moto))},
            "cloudflare_requests": len(cf),
            "cloudflare_by_route": _by(cf, lambda r: f"{r.get('method')} {r.get('route')} {r.get('status')}"),
        }
        log(f"{impl} {phase}: {len(invs)} events in {res[phase]['wall_s']:.1f} s, "
            f"median {res[phase]['latency_ms']['median']:.2f} ms, "
            f"CPU {res[phase]['cpu_ms_per_event']:.3f} ms/event")
        if phase == "new":
            world.settle()
    stop(p)
    return res


# The first-event phase: the implementation, and the Rust function's WARM_UP_CONNECTIONS.
FIRST_EVENT_VARIANTS = (("rust", "true"), ("rust", "false"), ("python", None))


def variant_name(impl: str, warm_up: str | None) -> str:
    return impl if warm_up in (None, "true") else f"{impl}-no-warm-up"


def first_events(world: World, api: RuntimeApi, events: list[bytes]) -> dict:
    """Cold start, then one new video, over TLS to DynamoDB and Cloudflare: what a real cold start
    pays. Each start gets a fresh object; variants alternate so drift hits all of them."""
    table = world.create_table("bench-first")
    world.settle()
    results = {variant_name(*v): [] for v in FIRST_EVENT_VARIANTS}
    it = iter(events)
    for _ in range(len(events) // len(FIRST_EVENT_VARIANTS)):
        for impl, warm_up in FIRST_EVENT_VARIANTS:
            env = world.function_env(impl, api.address, table, via_proxy=False, tls=True)
            if warm_up is not None:
                env["WARM_UP_CONNECTIONS"] = warm_up
            name = variant_name(impl, warm_up)
            p, init_ns = start_cold(world, api, impl, env, f"{name}-first")
            invs = api.invoke([next(it)], 60)
            stop(p, signal.SIGKILL)
            got = outcomes(invs)
            if got != {"submitted": 1}:
                raise SystemExit(f"{name}: first event over TLS: unexpected outcome {got} (see {world.logs}/{name}-first.log)")
            init_ms, first_ms = init_ns / 1e6, invs[0].latency_ms
            results[name].append({"init_ms": init_ms, "first_event_ms": first_ms, "total_ms": init_ms + first_ms})
    api.new_generation()
    return {name: {"samples": r, **{k: summary([x[k] for x in r]) for k in ("init_ms", "first_event_ms", "total_ms")}}
            for name, r in results.items()}


def _by(items, key) -> dict:
    out: dict[str, int] = {}
    for i in items:
        k = key(i)
        out[k] = out.get(k, 0) + 1
    return out


def count_run(world: World, api: RuntimeApi, impl: str, events: list[bytes]) -> dict:
    """A fresh process whose S3 and DynamoDB endpoints are counting proxies: every request it makes
    is logged with its operation. Kept apart from the timed runs so the proxy adds no latency there."""
    table = world.create_table(f"bench-{impl}-count")
    cmd, cwd = command(impl)
    env = world.function_env(impl, api.address, table, via_proxy=True)
    world.settle()
    world.reset_emulator()
    gen = api.new_generation()
    p = spawn(cmd, stdout=open(world.logs / f"{impl}-count.log", "wb"), stderr=subprocess.STDOUT, env=env, cwd=cwd)
    if api.wait_first_poll(gen, 60) is None:
        raise SystemExit(f"{impl}: did not start for the counting run")
    res = {}
    for phase in ("new", "duplicate"):
        s0, d0, c0 = world.s3_proxy.mark(), world.ddb_proxy.mark(), len(world.cf_requests())
        invs = api.invoke(events, 300)
        if phase == "new":
            world.settle()  # the emulator's fetches through the presigned URLs land in this phase
        s3 = world.s3_proxy.since(s0)
        ddb = world.ddb_proxy.since(d0)
        cf = world.cf_requests()[c0:]
        n = len(invs)
        fn_s3 = [r for r in s3 if not r["presigned"]]
        res[phase] = {
            "events": n,
            "outcomes": outcomes(invs),
            "s3_requests_by_function": len(fn_s3),
            "s3_requests_by_function_detail": _by(fn_s3, lambda r: f"{r['method']} {r['status']}"),
            "s3_presigned_fetches_by_emulator": len(s3) - len(fn_s3),
            "dynamodb_requests": len(ddb),
            "dynamodb_by_operation": _by(ddb, lambda r: f"{(r['target'] or '?').split('.')[-1]} {r['status']}"),
            "cloudflare_requests": len(cf),
            "cloudflare_by_route": _by(cf, lambda r: f"{r.get('method')} {r.get('route')} {r.get('status')}"),
            "per_event": {"s3": len(fn_s3) / n, "dynamodb": len(ddb) / n, "cloudflare": len(cf) / n},
        }
    stop(p)
    return res


# --- the burst phase -------------------------------------------------------------------------------


def _error_type(body: bytes | None) -> str:
    try:
        return json.loads(body or b"{}").get("errorType") or "?"
    except (ValueError, AttributeError):
        return "?"


def _log_findings(paths: list[Path]) -> dict:
    """WARN and ERROR lines of the instances' JSON logs, counted by message (quoted strings and
    numbers masked, so the runtime's per-event error lines group together)."""
    found: dict[str, int] = {}
    unparsed = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                unparsed += bool(line.strip())
                continue
            level = d.get("level", "?")
            if level in ("WARN", "ERROR"):
                msg = str((d.get("fields") or {}).get("message", "?"))
                msg = re.sub(r"\d+(\.\d+)?", "N", re.sub(r'"[^"]*"', '"…"', msg))
                msg = msg if len(msg) <= 160 else msg[:160] + "…"
                found[f"{level} {msg}"] = found.get(f"{level} {msg}", 0) + 1
    return {"by_message": dict(sorted(found.items(), key=lambda kv: -kv[1])), "non_json_lines": unparsed}


def burst_run(world: World) -> dict:
    """BURST_INSTANCES long-lived Rust instances behind one Runtime API (Lambda's asynchronous queue
    in front of K instances), an emulator with a scaled-down Cloudflare limit, and BURST_UPLOADS new
    objects whose events are all queued at once. A function error is queued again after
    BURST_RETRY_DELAY_S (then twice that), at most twice; after that the event counts as sent to the
    failure destination. Measured at the emulator: when every Cloudflare call arrived."""
    lim_n, lim_w = burst_stats.parse_rate(BURST_RATE_LIMIT, "BURST_RATE_LIMIT")
    bud_n, bud_w = burst_stats.parse_rate(BURST_BUDGET, "BURST_BUDGET")
    cap, rate = burst_stats.bucket(bud_n, bud_w)
    min_s = max(0.0, (BURST_UPLOADS - cap) / rate) if rate > 0 else None
    help_text = emulator_help()
    missing = [f for f in ("--rate-limit", "--max-in-flight", "--processing-delay-ms") if f not in help_text]
    if missing:
        raise SystemExit(f"burst phase: {EMULATOR_BIN} has no {', '.join(missing)} (an older stream-emulator?); "
                         "rebuild it, or run BENCH_PHASES=main")
    extra = ["--transcode", "off"] if "--transcode" in help_text else []
    emu = Emulator(world.logs / "stream-emulator-burst.log",
                   ["--rate-limit", BURST_RATE_LIMIT, "--max-in-flight", BURST_MAX_IN_FLIGHT,
                    "--processing-delay-ms", BURST_PROCESSING_DELAY_MS, *extra])
    api = RuntimeApi(deadline_s=BURST_DEADLINE_S)
    procs: list[subprocess.Popen] = []
    try:
        try:
            rl0 = emu.call("/__emulator/rate-limit")
            if not isinstance(rl0, dict) or "lockouts" not in rl0:
                raise ValueError(rl0)
        except (OSError, ValueError) as e:
            raise SystemExit(f"burst phase: the emulator has no usable GET /__emulator/rate-limit ({e}); rebuild it")
        table = world.create_table("bench-burst")
        keys = [f"burst/video-{i:05d}.mp4" for i in range(1, BURST_UPLOADS + 1)]
        log(f"burst: uploading {len(keys)} objects")
        etags = world.upload(keys)
        size = FIXTURE.stat().st_size
        payload = {k: s3_event(k, etags[k], size, 0x0055AED6DC00000000 + i) for i, k in enumerate(keys)}

        gen = api.new_generation()
        env = world.function_env("rust", api.address, table, via_proxy=False)
        env.update({"CLOUDFLARE_API_URL": emu.cf_api, "CLOUDFLARE_CALL_BUDGET": BURST_BUDGET,
                    "AWS_LAMBDA_LOG_FORMAT": "json"})
        log_paths = [world.logs / f"rust-burst-{i}.log" for i in range(BURST_INSTANCES)]
        for path in log_paths:
            procs.append(spawn([RUST_BIN], stdout=open(path, "wb"), stderr=subprocess.STDOUT, env=env))
        ready_by = time.monotonic() + 60
        while not api.wait_polls(gen, BURST_INSTANCES, 1):
            dead = [f"instance {i}: exit {p.returncode}" for i, p in enumerate(procs) if p.poll() is not None]
            if dead or time.monotonic() > ready_by:
                raise SystemExit(f"burst phase: the {BURST_INSTANCES} instances did not all poll /invocation/next "
                                 f"({'; '.join(dead) or 'none exited, 60 s'}; see {world.logs}/rust-burst-*.log)")
        cpu0 = [cpu_ticks(p.pid) for p in procs]
        log(f"burst: {BURST_INSTANCES} instances, budget {BURST_BUDGET} (C={cap}, r={rate:.3f}/s), emulator limit "
            f"{BURST_RATE_LIMIT}, deadline {BURST_DEADLINE_S:.0f} s; {len(keys)} events queued at once "
            f"(theoretical minimum {min_s:.1f} s)")

        # Lambda's asynchronous queue: every event at once, retries of function errors, failure destination.
        moto0 = len(world.moto_operations())
        t0_ns, t0_ms = now_ns(), time.time() * 1000
        live: dict[str, tuple[str, int, object]] = {}
        for k, inv in zip(keys, api.enqueue([payload[k] for k in keys])):
            live[inv.id] = (k, 0, inv)
        retries: list[tuple[float, int, str, int]] = []  # (due, seq, key, attempt)
        submitted: dict[str, int] = {}  # key -> done_ns of its successful response
        other_outcomes: dict[str, str] = {}
        errors: list[dict] = []
        failure_destination: dict[str, str] = {}
        invocations: list = []
        attempts_of: dict[str, int] = {}
        timeout = 180.0 + 3 * (min_s or 0) + 3 * BURST_RETRY_DELAY_S * BURST_MAX_RETRIES
        end = time.monotonic() + timeout
        next_note = time.monotonic() + 15
        seq = 0
        while live or retries:
            now = time.monotonic()
            if now > end:
                raise SystemExit(f"burst phase: not done after {timeout:.0f} s: {len(submitted)}/{len(keys)} submitted, "
                                 f"{len(live)} invocations outstanding, {len(retries)} retries pending, "
                                 f"{len(errors)} function errors (see {world.logs}/rust-burst-*.log)")
            for i, p in enumerate(procs):
                if p.poll() is not None:
                    raise SystemExit(f"burst phase: instance {i} exited with {p.returncode} "
                                     f"(see {log_paths[i]})")
            due = []
            while retries and retries[0][0] <= now:
                due.append(heapq.heappop(retries))
            if due:
                for (_, _, k, attempt), inv in zip(due, api.enqueue([payload[d[2]] for d in due])):
                    live[inv.id] = (k, attempt, inv)
            for inv_id, (k, attempt, inv) in list(live.items()):
                if inv.done_ns is None:
                    continue
                del live[inv_id]
                invocations.append(inv)
                attempts_of[k] = attempt + 1
                if inv.kind == "response":
                    got = outcomes([inv])
                    outcome = next(iter(got))
                    if outcome == "submitted":
                        submitted[k] = inv.done_ns
                    else:
                        other_outcomes[k] = outcome
                else:
                    etype = _error_type(inv.body)
                    errors.append({"key": k, "attempt": attempt, "error_type": etype,
                                   "at_s": (inv.done_ns - t0_ns) / 1e9,
                                   "message": (inv.body or b"")[:300].decode(errors="replace")})
                    if attempt < BURST_MAX_RETRIES:
                        seq += 1
                        heapq.heappush(retries, (now + BURST_RETRY_DELAY_S * (attempt + 1), seq, k, attempt + 1))
                    else:
                        failure_destination[k] = etype
            if now >= next_note:
                log(f"burst: {len(submitted)}/{len(keys)} submitted after {(now_ns() - t0_ns) / 1e9:.0f} s "
                    f"({len(errors)} function errors so far)")
                next_note = now + 15
            time.sleep(0.05)
        t_end_ns = max(submitted.values()) if submitted else now_ns()
        cpu1 = [cpu_ticks(p.pid) for p in procs]
        rss = [proc_status_kb(p.pid, "VmHWM") for p in procs]
        for p in procs:
            stop(p)
        ddb_ops = world.moto_operations()[moto0:]

        reqs = emu.call("/__emulator/requests")
        rl = emu.call("/__emulator/rate-limit")
        videos = emu.call("/__emulator/videos") or []
        items = world.scan(table)
    finally:
        for p in procs:
            stop(p)
        api.close()
        emu.close()

    if any("at_ms" not in r or "user_agent" not in r for r in reqs):
        raise SystemExit("burst phase: the emulator's request log has no at_ms / user_agent (an older stream-emulator?)")
    ours = [r for r in reqs if str(r.get("user_agent") or "").startswith("vinofy-ingest/")]
    foreign = len(reqs) - len(ours)
    # The unauthenticated HEAD of each instance's connection warm-up (WARM_UP_CONNECTIONS) stops at
    # the emulator's Authorization gate: not a call, never seen by the limiter.
    warm_ups = [r for r in ours if r.get("method") == "HEAD"]
    calls = [r for r in ours if r.get("method") != "HEAD"]
    call_ms = sorted(int(r["at_ms"]) for r in calls)
    copies_ok = sorted(int(r["at_ms"]) for r in calls if r.get("route") == "copy" and r.get("status") == 200)
    first_call = call_ms[0] if call_ms else None
    last_new = copies_ok[-1] if copies_ok else None
    steady = None
    if first_call is not None and last_new is not None and last_new > first_call + bud_w * 1000:
        a, b = first_call + bud_w * 1000, last_new
        n_steady = burst_stats.count_between(call_ms, a, b)
        per_s = n_steady / ((b - a) / 1000)
        inside = [t for t in call_ms if a <= t < b]
        gaps = [y - x for x, y in zip(inside, inside[1:])]
        steady = {"start_ms": a, "end_ms": b, "seconds": (b - a) / 1000, "calls": n_steady,
                  "gap_ms": summary(gaps) if gaps else None, "ideal_gap_ms": 1000 / rate if rate else None,
                  "calls_per_s": per_s, "of_budget_rate": per_s / (bud_n / bud_w),
                  "of_bucket_refill": per_s / rate if rate else None}
    win_bud, win_bud_at = burst_stats.max_in_window(call_ms, bud_w * 1000)
    win_lim, win_lim_at = burst_stats.max_in_window(call_ms, lim_w * 1000)

    per_key: dict[str, int] = {}
    for v in videos:
        if v.get("deleted"):
            continue
        name = ((v.get("video") or {}).get("meta") or {}).get("name")
        per_key[name] = per_key.get(name, 0) + 1
    dist: dict[int, int] = {}
    for k in keys:
        c = per_key.get(k, 0)
        dist[c] = dist.get(c, 0) + 1
    statuses: dict[str, int] = {}
    for it in items:
        src = it.get("source", {}).get("S", "")
        if src.startswith("s3://"):
            st = it.get("status", {}).get("S", "?")
            statuses[st] = statuses.get(st, 0) + 1

    lat = [i.latency_ms for i in invocations]
    queued = [(i.handed_ns - t0_ns) / 1e6 for i in invocations]
    elapsed_s = (t_end_ns - t0_ns) / 1e9
    ticks = sum((u1 + s1) - (u0 + s0) for (u0, s0), (u1, s1) in zip(cpu0, cpu1))
    err_types: dict[str, int] = {}
    for e in errors:
        err_types[e["error_type"]] = err_types.get(e["error_type"], 0) + 1
    res = {
        "settings": {"uploads": BURST_UPLOADS, "instances": BURST_INSTANCES, "rate_limit": BURST_RATE_LIMIT,
                     "budget": BURST_BUDGET, "bucket_capacity": cap, "bucket_refill_per_s": rate,
                     "deadline_s": BURST_DEADLINE_S, "retry_delay_s": BURST_RETRY_DELAY_S,
                     "max_retries": BURST_MAX_RETRIES, "max_in_flight": BURST_MAX_IN_FLIGHT,
                     "processing_delay_ms": BURST_PROCESSING_DELAY_MS},
        "first_event_epoch_ms": t0_ms,
        "submitted": len(submitted),
        "elapsed_s": elapsed_s,
        "theoretical_min_s": min_s,
        "elapsed_over_min": elapsed_s / min_s if min_s else None,
        "first_call_to_last_new_video_s": (last_new - first_call) / 1000 if last_new and first_call else None,
        "steady": steady,
        "max_calls_in_budget_window": {"calls": win_bud, "window_s": bud_w, "window_start_ms": win_bud_at,
                                        "budget_n": bud_n, "over_budget_n": win_bud / bud_n},
        "max_calls_in_limit_window": {"calls": win_lim, "window_s": lim_w, "window_start_ms": win_lim_at,
                                       "limit_n": lim_n, "over_limit_n": win_lim / lim_n},
        "cloudflare_calls": len(calls),
        "cloudflare_calls_per_upload": len(calls) / BURST_UPLOADS,
        "cloudflare_requests_per_upload_incl_warm_ups": len(ours) / BURST_UPLOADS,
        "warm_up_requests": len(warm_ups),
        "warm_up_statuses": _by(warm_ups, lambda r: str(r.get("status"))),
        "requests_from_other_user_agents": foreign,
        "cloudflare_by_route": _by(calls, lambda r: f"{r.get('method')} {r.get('route')} {r.get('status')}"),
        "calls_per_second_from_first_call": burst_stats.per_second(call_ms, first_call, call_ms[-1] + 1) if call_ms else [],
        "rate_limit_report": rl,
        "lockouts": len(rl.get("lockouts") or []),
        "limiter_accepted_plus_refused": (rl.get("accepted") or 0) + (rl.get("refused") or 0),
        "function_errors": len(errors),
        "function_errors_by_type": err_types,
        "function_error_samples": errors[:10],
        "retries_queued": sum(1 for e in errors if e["attempt"] < BURST_MAX_RETRIES),
        "failure_destination": len(failure_destination),
        "failure_destination_by_type": _by(failure_destination.values(), lambda t: t),
        "other_outcomes": _by(other_outcomes.values(), lambda o: o),
        "invocations": len(invocations),
        "attempts_histogram": _by(attempts_of.values(), str),
        "videos_per_upload_histogram": {str(k): v for k, v in sorted(dist.items())},
        "uploads_with_exactly_one_video": dist.get(1, 0),
        "videos_total": sum(per_key.values()),
        "dynamodb_status": statuses,
        "dynamodb_requests_per_upload": len(ddb_ops) / BURST_UPLOADS,
        "dynamodb_by_operation": _by(ddb_ops, lambda o: o),
        "invocation_latency_ms": summary(lat) if lat else None,
        "queue_wait_ms": summary(queued) if queued else None,
        "cpu_ms_per_upload_all_instances": ticks * 1000 / CLK_TCK / BURST_UPLOADS,
        "vmhwm_kb_per_instance": rss,
        "log_findings": _log_findings(log_paths),
    }
    return res


def burst_warnings(b: dict) -> list[str]:
    w = []
    n = b["settings"]["uploads"]
    if b["submitted"] != n:
        w.append(f"burst: {b['submitted']}/{n} uploads submitted")
    if b["steady"] is None:
        w.append("burst: no steady state (the run ended within the first budget window); "
                 "raise BURST_UPLOADS for a sustained-rate figure")
    elif b["steady"]["of_budget_rate"] < 0.95:
        w.append(f"burst: sustained rate {b['steady']['of_budget_rate']:.3f} of the budget's N/W (goal >= 0.95)")
    if b["max_calls_in_budget_window"]["calls"] > b["max_calls_in_budget_window"]["budget_n"]:
        m = b["max_calls_in_budget_window"]
        w.append(f"burst: {m['calls']} calls in one {m['window_s']} s window, above the budget's {m['budget_n']}")
    if b["max_calls_in_limit_window"]["calls"] > b["max_calls_in_limit_window"]["limit_n"]:
        w.append("burst: more calls in one window than the emulator's limit")
    if abs(b["cloudflare_calls_per_upload"] - 1.0) > 1e-9:
        w.append(f"burst: {b['cloudflare_calls_per_upload']:.3f} Cloudflare calls per new video (goal 1.0): "
                 f"{b['cloudflare_by_route']}")
    if b["lockouts"]:
        w.append(f"burst: {b['lockouts']} lock-outs by the emulator's rate limit")
    if b["failure_destination"]:
        w.append(f"burst: {b['failure_destination']} events in the failure destination {b['failure_destination_by_type']}")
    if b["function_errors"]:
        w.append(f"burst: {b['function_errors']} function errors {b['function_errors_by_type']}")
    if b["uploads_with_exactly_one_video"] != n:
        w.append(f"burst: videos per upload {b['videos_per_upload_histogram']} (expected exactly 1 each)")
    if b["other_outcomes"]:
        w.append(f"burst: responses other than submitted: {b['other_outcomes']}")
    if b["limiter_accepted_plus_refused"] != b["cloudflare_calls"]:
        w.append(f"burst: the limiter saw {b['limiter_accepted_plus_refused']} requests, the request log "
                 f"{b['cloudflare_calls']} calls from the instances")
    return w


def zip_sizes(work: Path) -> dict:
    """Deployment packages as `sam build` / `cargo lambda build --output-format zip` make them."""
    out = {}
    rust_zip = work / "rust-bootstrap.zip"
    with zipfile.ZipFile(rust_zip, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, RUST_BIN.read_bytes())
    out["rust"] = {"zip_bytes": rust_zip.stat().st_size, "unzipped_bytes": RUST_BIN.stat().st_size,
                   "contents": ["bootstrap (target/release/ingest)"]}
    # Rule: ship what the Lambda Python runtime does not provide. The runtime provides boto3,
    # botocore and their dependencies (s3transfer, jmespath, python-dateutil, six, urllib3), and
    # awslambdaric is the runtime itself; the handler imports nothing else, so it ships alone.
    py_zip = work / "python-handler.zip"
    files = sorted(p for p in PY_TASK_ROOT.rglob("*.py") if "__pycache__" not in p.parts)
    with zipfile.ZipFile(py_zip, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f.relative_to(PY_TASK_ROOT))
    out["python"] = {"zip_bytes": py_zip.stat().st_size, "unzipped_bytes": sum(f.stat().st_size for f in files),
                     "contents": [str(f.relative_to(PY_TASK_ROOT)) for f in files]}
    # For context: the same package with the SDK vendored (AWS advises pinning the SDK that way).
    site = next((BENCH_VENV / "lib").glob("python3*/site-packages"))
    vendored = work / "python-vendored-sdk.zip"
    shutil.copy(py_zip, vendored)
    sdk = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"]
    with zipfile.ZipFile(vendored, "a", zipfile.ZIP_DEFLATED) as z:
        for top in sdk:
            p = site / top
            for f in [p] if p.is_file() else sorted(p.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts:
                    z.write(f, f.relative_to(site))
    out["python_vendored_sdk"] = {"zip_bytes": vendored.stat().st_size, "contents": ["handler.py", *sdk]}
    return out


# --- report ----------------------------------------------------------------------------------------


def ratio(r, p) -> str:
    if r is None or p is None:
        return "n/a"
    if p == 0:
        return "= (0/0)" if r == 0 else "∞"
    return f"{r / p:.2f}×" if r / p >= 0.1 else f"{r / p:.3f}×"


def fmt(v, unit="", digits=2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return f"{v}{unit}"
    return f"{v:.{digits}f}{unit}"


def report_main(res: dict) -> list[str]:
    """The Rust vs Python tables (phase "main")."""
    cold, warm, cnt, zips = res["cold_start"], res["warm"], res["round_trips"], res["zip"]
    rows = []

    def row(label, r, p, unit="", digits=2):
        rows.append(f"| {label} | {fmt(r, unit, digits)} | {fmt(p, unit, digits)} | {ratio(r, p)} |")

    n_cold = len(cold["rust"]["samples"])
    row(f"Init time, median of {n_cold} cold starts", cold["rust"]["init_ms"]["median"],
        cold["python"]["init_ms"]["median"], " ms", 1)
    row(f"Init time, p90 of {n_cold} cold starts", cold["rust"]["init_ms"]["p90"],
        cold["python"]["init_ms"]["p90"], " ms", 1)
    for phase, label in (("new", "new video"), ("duplicate", "duplicate")):
        n = warm["rust"][phase]["events"]
        row(f"Warm latency, {label}, median ({n} events)", warm["rust"][phase]["latency_ms"]["median"],
            warm["python"][phase]["latency_ms"]["median"], " ms")
        row(f"Warm latency, {label}, p99 ({n} events)", warm["rust"][phase]["latency_ms"]["p99"],
            warm["python"][phase]["latency_ms"]["p99"], " ms")
        row(f"CPU time per event, {label} (utime+stime)", warm["rust"][phase]["cpu_ms_per_event"],
            warm["python"][phase]["cpu_ms_per_event"], " ms", 3)
    row(f"Peak RSS (VmHWM) after {warm['rust']['new']['events']} new + {warm['rust']['duplicate']['events']} duplicate events",
        warm["rust"]["duplicate"]["vmhwm_kb"] / 1024, warm["python"]["duplicate"]["vmhwm_kb"] / 1024, " MiB", 1)
    row("Deployment zip", zips["rust"]["zip_bytes"] / 1024, zips["python"]["zip_bytes"] / 1024, " KiB", 1)
    for phase, label in (("new", "new video"), ("duplicate", "duplicate")):
        for peer, name in (("s3", "S3"), ("dynamodb", "DynamoDB"), ("cloudflare", "Cloudflare")):
            row(f"Round trips per {label}: {name}", cnt["rust"][phase]["per_event"][peer],
                cnt["python"][phase]["per_event"][peer], "", 2)
    fe = res["first_event"]
    n_fe = len(fe["rust"]["samples"])
    row(f"First event after a cold start, over TLS, median of {n_fe}", fe["rust"]["first_event_ms"]["median"],
        fe["python"]["first_event_ms"]["median"], " ms")
    row(f"Init + first event, over TLS, median of {n_fe}", fe["rust"]["total_ms"]["median"],
        fe["python"]["total_ms"]["median"], " ms")
    warm_up_rows = []
    for key, label in (("init_ms", "Init time"), ("first_event_ms", "First event (a new video)"),
                       ("total_ms", "Init + first event")):
        on, off = fe["rust"][key]["median"], fe["rust-no-warm-up"][key]["median"]
        warm_up_rows.append(f"| {label}, median of {n_fe} | {fmt(on, ' ms')} | {fmt(off, ' ms')} | {ratio(on, off)} |")
    extra = []

    def xrow(label, r, p, unit="", digits=2):
        extra.append(f"| {label} | {fmt(r, unit, digits)} | {fmt(p, unit, digits)} | {ratio(r, p)} |")

    xrow("First invocation after init (one sample; connections cold)", warm["rust"]["warmup"]["first_invocation_ms"],
         warm["python"]["warmup"]["first_invocation_ms"], " ms")
    for phase, label in (("new", "new video"), ("duplicate", "duplicate")):
        for kind, name in (("user", "user space (utime)"), ("system", "kernel (stime)")):
            key = f"{kind}_cpu_ms_per_event"
            xrow(f"CPU time per event, {label}: {name}", warm["rust"][phase].get(key),
                 warm["python"][phase].get(key), " ms", 3)
    xrow("RSS at first poll (median of cold starts)", cold["rust"]["rss_kb_at_first_poll"] / 1024,
         cold["python"]["rss_kb_at_first_poll"] / 1024, " MiB", 1)
    xrow("Peak RSS (VmHWM) after the new videos only", warm["rust"]["new"]["vmhwm_kb"] / 1024,
         warm["python"]["new"]["vmhwm_kb"] / 1024, " MiB", 1)
    for phase, label in (("new", "new videos"), ("duplicate", "duplicates")):
        xrow(f"Throughput, {label} (one process, sequential)", warm["rust"][phase]["events_per_s"],
             warm["python"][phase]["events_per_s"], " /s", 1)
    xrow("DynamoDB requests per new video, whole timed run (moto log)",
         warm["rust"]["new"]["dynamodb_requests"] / warm["rust"]["new"]["events"],
         warm["python"]["new"]["dynamodb_requests"] / warm["python"]["new"]["events"])
    xrow("Cloudflare requests per new video, whole timed run (emulator log)",
         warm["rust"]["new"]["cloudflare_requests"] / warm["rust"]["new"]["events"],
         warm["python"]["new"]["cloudflare_requests"] / warm["python"]["new"]["events"])
    xrow("Unzipped package", zips["rust"]["unzipped_bytes"] / 1024, zips["python"]["unzipped_bytes"] / 1024,
         " KiB", 1)
    xrow("Deployment zip, Python with boto3/botocore vendored", zips["rust"]["zip_bytes"] / 1024,
         zips["python_vendored_sdk"]["zip_bytes"] / 1024, " KiB", 1)

    m = res["meta"]
    head = "| Figure | Rust | Python | Rust / Python |\n|---|---:|---:|---:|"
    return [
        f"EVENTS={m['events']} COLD_STARTS={m['cold_starts']} WARMUP_EVENTS={m['warmup_events']} "
        f"COUNT_EVENTS={m['count_events']} FIRST_EVENTS={m['first_events']}.",
        "",
        head, *rows,
        "",
        "Connections opened during init (`WARM_UP_CONNECTIONS`), Rust, cold starts with TLS to DynamoDB and "
        "Cloudflare (scripts/tls_proxy.py), one new video each:",
        "",
        "| Figure | warm-up on (default) | warm-up off | on / off |\n|---|---:|---:|---:|",
        *warm_up_rows,
        "",
        "Extra figures (not part of the issue's list):",
        "",
        head, *extra,
        "",
        "Round trips are counted at the peers in a separate pass of "
        f"{m['count_events']} new + {m['count_events']} duplicate events through counting proxies "
        "(S3, DynamoDB) and the emulator's request log (Cloudflare); the extra rows check DynamoDB and "
        "Cloudflare over the whole timed run. Per-operation detail: "
        + "; ".join(
            f"{impl} new: DynamoDB {cnt[impl]['new']['dynamodb_by_operation']}, Cloudflare "
            f"{cnt[impl]['new']['cloudflare_by_route']}; {impl} duplicate: DynamoDB "
            f"{cnt[impl]['duplicate']['dynamodb_by_operation']}" for impl in IMPLS),
    ]


def report_burst(b: dict) -> list[str]:
    """The burst phase's table (Rust only)."""
    st = b["settings"]
    bud_n, bud_w = burst_stats.parse_rate(st["budget"], "budget")
    lim_n, lim_w = burst_stats.parse_rate(st["rate_limit"], "rate limit")
    n = st["uploads"]
    rows = []

    def row(label, value, goal, ok):
        rows.append(f"| {label} | {value} | {goal} | {'—' if ok is None else 'yes' if ok else '**no**'} |")

    sd = b["steady"]
    if sd:
        row(f"Sustained Cloudflare calls per second, steady state ({sd['seconds']:.1f} s: first {bud_w} s and the "
            "tail after the last new video excluded)", f"{sd['calls_per_s']:.2f} /s = {sd['of_budget_rate']:.3f} × N/W "
            f"({bud_n / bud_w:.2f} /s)", ">= 0.95 × N/W", sd["of_budget_rate"] >= 0.95)
    else:
        row("Sustained Cloudflare calls per second, steady state", "n/a (the run ended within the first window)",
            ">= 0.95 × N/W", None)
    mb, ml = b["max_calls_in_budget_window"], b["max_calls_in_limit_window"]
    row(f"Most calls in any sliding {bud_w} s window, vs the budget's N", f"{mb['calls']} of {bud_n}", f"<= {bud_n}",
        mb["calls"] <= bud_n)
    row(f"Most calls in any sliding {lim_w} s window, vs the emulator's limit", f"{ml['calls']} of {lim_n}",
        f"<= {lim_n}", ml["calls"] <= lim_n)
    row("Cloudflare calls per new video (calls from the instances ÷ uploads)",
        f"{b['cloudflare_calls_per_upload']:.3f} ({b['cloudflare_calls']} / {n})", "1.0",
        abs(b["cloudflare_calls_per_upload"] - 1) < 1e-9)
    if b["theoretical_min_s"]:
        row("First event → last upload submitted, vs the budget's minimum (uploads − C) / r",
            f"{b['elapsed_s']:.1f} s vs {b['theoretical_min_s']:.1f} s = {b['elapsed_over_min']:.3f}×", "≈ 1×", None)
    else:
        row("First event → last upload submitted", f"{b['elapsed_s']:.1f} s (within the bucket's capacity)", "", None)
    row("Lock-outs (emulator's rate limit)", f"{b['lockouts']} ({b['rate_limit_report'].get('refused')} refused)",
        "0", b["lockouts"] == 0)
    row("Events in the failure destination (after 2 retries)", str(b["failure_destination"]), "0",
        b["failure_destination"] == 0)
    row("Function errors seen (each retried)", f"{b['function_errors']} {b['function_errors_by_type'] or ''}".strip(),
        "0", b["function_errors"] == 0)
    row("Uploads with exactly one video (`GET /__emulator/videos`)",
        f"{b['uploads_with_exactly_one_video']} of {n} (videos per upload: {b['videos_per_upload_histogram']})",
        f"{n}", b["uploads_with_exactly_one_video"] == n)
    row("Uploads recorded `submitted` in DynamoDB", f"{b['dynamodb_status'].get('submitted', 0)} of {n}",
        f"{n}", b["dynamodb_status"].get("submitted", 0) == n)
    lat, q = b["invocation_latency_ms"], b["queue_wait_ms"]
    extra = [
        f"- Calls by route and status: {b['cloudflare_by_route']}; plus {b['warm_up_requests']} unauthenticated "
        f"warm-up HEADs (one per instance start, status {b['warm_up_statuses']}, never counted by the limiter), "
        f"so {b['cloudflare_requests_per_upload_incl_warm_ups']:.3f} requests per upload with them. The limiter "
        f"counted {b['limiter_accepted_plus_refused']} ({b['rate_limit_report'].get('accepted')} accepted, "
        f"{b['rate_limit_report'].get('refused')} refused).",
        f"- First call → last new video's copy: {fmt(b['first_call_to_last_new_video_s'], ' s', 1)}"
        + (f"; steady state {sd['calls']} calls in {sd['seconds']:.1f} s = {sd['of_bucket_refill']:.3f} × the "
           f"bucket's refill r = {st['bucket_refill_per_s']:.2f} /s (C = {st['bucket_capacity']}); gaps between "
           f"consecutive calls: median {sd['gap_ms']['median']:.0f} ms, p90 {sd['gap_ms']['p90']:.0f} ms, mean "
           f"{sd['gap_ms']['mean']:.1f} ms against 1/r = {sd['ideal_gap_ms']:.1f} ms." if sd and sd["gap_ms"] else "."),
        f"- Invocation latency (handed out → response): median {lat['median']:.0f} ms, p99 {lat['p99']:.0f} ms, "
        f"max {lat['max']:.0f} ms; queue wait (queued → handed out): median {q['median'] / 1000:.1f} s, max "
        f"{q['max'] / 1000:.1f} s. {b['invocations']} invocations for {n} uploads." if lat else "",
        f"- DynamoDB requests per upload: {b['dynamodb_requests_per_upload']:.2f} (by operation and status: "
        f"{b['dynamodb_by_operation']}); a new video needs 2 record writes, and each Cloudflare call reads the shared "
        "bucket and writes it back conditionally (a 400 is a lost race: another instance took the slot first).",
        f"- CPU of all instances together: {b['cpu_ms_per_upload_all_instances']:.2f} ms per upload; peak RSS per "
        f"instance {', '.join(f'{k / 1024:.1f}' for k in b['vmhwm_kb_per_instance'])} MiB.",
        "- WARN/ERROR lines in the instances' logs: "
        + (", ".join(f"{v}× {k}" for k, v in b["log_findings"]["by_message"].items()) or "none") + ".",
    ]
    return [
        f"{st['instances']} Rust instances behind one queue, {n} uploads queued at once; Cloudflare limit (emulator) "
        f"`--rate-limit {st['rate_limit']}`, `CLOUDFLARE_CALL_BUDGET={st['budget']}` (C = {st['bucket_capacity']}, "
        f"r = {st['bucket_refill_per_s']:.2f} /s), deadline {st['deadline_s']:.0f} s per invocation, function errors "
        f"retried after {st['retry_delay_s']:g} s and {2 * st['retry_delay_s']:g} s. Cloudflare calls are the "
        "emulator's request log entries from the instances' user agent, timed by their arrival (`at_ms`). "
        "The Python baseline is not run here (it has no shared budget).",
        "",
        "| Figure | Measured | Goal | Met |\n|---|---|---|---|",
        *rows,
        "",
        *[e for e in extra if e],
    ]


def report(res: dict) -> str:
    m = res["meta"]
    text = [
        f"# vinofy-ingest benchmark ({m['started']})",
        "",
        f"Phases {','.join(m['phases'])}; {m['cpu']} ({m['nproc']} CPUs); git {m['git']}; "
        f"run took {m['duration_s']:.0f} s (measurements only, build excluded); CPU used by other processes "
        f"meanwhile: {100 * m['foreign_cpu_share']:.0f}% of the machine.",
    ]
    if "warm" in res:
        text += ["", "## Rust vs Python baseline", "", *report_main(res)]
    if "burst" in res:
        text += ["", "## Burst: the shared Cloudflare call budget (Rust)", "", *report_burst(res["burst"])]
    warnings = res.get("warnings") or []
    if warnings:
        text += ["", "**Warnings:**", *[f"- {w}" for w in warnings]]
    return "\n".join(text) + "\n"


def meta() -> dict:
    def sh(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=20).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    dirty = bool(sh("git", "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"))
    py_versions = sh(str(PY_BIN), "-c", "import sys, boto3, botocore, urllib3, importlib.metadata as m; "
                     "print(sys.version.split()[0], boto3.__version__, botocore.__version__, urllib3.__version__, "
                     "m.version('awslambdaric'))").split()
    return {
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "events": EVENTS, "cold_starts": COLD_STARTS, "warmup_events": WARMUP_EVENTS, "count_events": COUNT_EVENTS,
        "first_events": FIRST_EVENTS, "phases": PHASES,
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "git": sh("git", "rev-parse", "--short", "HEAD") + (" + uncommitted changes in src/ or Cargo.*" if dirty else ""),
        "rustc": sh("rustc", "--version"),
        "python": dict(zip(["python", "boto3", "botocore", "urllib3", "awslambdaric"], py_versions)),
    }


def main_phases(world: World, api: RuntimeApi, res: dict) -> None:
    """Phase "main": Rust vs Python, every figure of the comparison table."""
    keys = [f"bench/video-{i:04d}.mp4" for i in range(1, EVENTS + 1)]
    warm_keys = [f"bench/warmup-{i:02d}.mp4" for i in range(1, WARMUP_EVENTS + 1)]
    first_keys = [f"bench/first-{i:03d}.mp4" for i in range(1, FIRST_EVENTS * len(FIRST_EVENT_VARIANTS) + 1)]
    log(f"uploading {len(keys) + len(warm_keys) + len(first_keys)} objects to s3://{BUCKET}")
    etags = world.upload(keys + warm_keys + first_keys)
    size = FIXTURE.stat().st_size
    events = [s3_event(k, etags[k], size, 0x0055AED6DCD90281E5 + i) for i, k in enumerate(keys)]
    warmup = [s3_event(k, etags[k], size, 0x0055AED6DCD9000000 + i) for i, k in enumerate(warm_keys)]
    firsts = [s3_event(k, etags[k], size, 0x0055AED6DCD8000000 + i) for i, k in enumerate(first_keys)]

    res["zip"] = zip_sizes(WORK)
    log(f"cold starts: {COLD_STARTS} per implementation, alternating (after one discarded start each)")
    res["cold_start"] = cold_starts(world, api)
    for impl in IMPLS:
        c = res["cold_start"][impl]["init_ms"]
        log(f"{impl} init: median {c['median']:.1f} ms, p90 {c['p90']:.1f} ms")
    log(f"first event over TLS: {FIRST_EVENTS} cold starts + one new video each, per variant "
        f"({', '.join(variant_name(*v) for v in FIRST_EVENT_VARIANTS)})")
    res["first_event"] = first_events(world, api, firsts)
    for name, r in res["first_event"].items():
        log(f"{name}: init {r['init_ms']['median']:.1f} ms + first event {r['first_event_ms']['median']:.1f} ms (medians)")
    res["warm"] = {}
    for impl in IMPLS:
        log(f"{impl}: warm run ({WARMUP_EVENTS} warm-up, {EVENTS} new, {EVENTS} duplicates)")
        res["warm"][impl] = warm_run(world, api, impl, events, warmup)
    res["round_trips"] = {}
    for impl in IMPLS:
        log(f"{impl}: counting run ({COUNT_EVENTS} new, {COUNT_EVENTS} duplicates, through counting proxies)")
        res["round_trips"][impl] = count_run(world, api, impl, events[:COUNT_EVENTS])
    for impl in IMPLS:
        for phase in ("new", "duplicate"):
            want = "submitted" if phase == "new" else "duplicate"
            for run, r in (("timed", res["warm"][impl][phase]), ("counting", res["round_trips"][impl][phase])):
                if set(r["outcomes"]) != {want}:
                    res["warnings"].append(f"{impl} {phase} ({run} run): outcomes {r['outcomes']}")
        fetches = res["round_trips"][impl]["new"]["s3_presigned_fetches_by_emulator"]
        if fetches != COUNT_EVENTS:
            res["warnings"].append(f"{impl}: the emulator fetched {fetches} presigned URLs for {COUNT_EVENTS} new videos")


def main() -> int:
    started = time.monotonic()
    busy0, load0 = system_busy_ticks(), os.getloadavg()[0]
    for path, what in ((RUST_BIN, "the Rust function"), (EMULATOR_BIN, "stream-emulator"), (MOTO_PY, "the project's .venv (moto)"),
                       (S3S_BIN, "s3s-fs"), (PY_BIN, "bench/.venv")):
        if not path.exists():
            raise SystemExit(f"{what} is missing ({path}): run bash bench/run.sh")
    res: dict = {"meta": meta(), "warnings": []}
    world = World()
    api = RuntimeApi()
    try:
        if "main" in PHASES:
            main_phases(world, api, res)
        if "burst" in PHASES:
            log(f"burst: {BURST_UPLOADS} uploads, {BURST_INSTANCES} Rust instances, emulator --rate-limit "
                f"{BURST_RATE_LIMIT}, CLOUDFLARE_CALL_BUDGET={BURST_BUDGET}")
            res["burst"] = burst_run(world)
            res["warnings"] += burst_warnings(res["burst"])
            b = res["burst"]
            steady = (b["steady"] or {}).get("of_budget_rate")
            log(f"burst: {b['submitted']} submitted in {b['elapsed_s']:.1f} s ({b['elapsed_over_min'] or 0:.3f}x the "
                f"minimum); steady {'n/a' if steady is None else f'{steady:.3f}'} of N/W; "
                f"max {b['max_calls_in_budget_window']['calls']} calls per window; "
                f"{b['cloudflare_calls_per_upload']:.3f} calls per video; {b['lockouts']} lock-outs; "
                f"{b['function_errors']} function errors, {b['failure_destination']} to the failure destination")
    finally:
        api.close()
        world.close()
        stop_all()
    res["warnings"] += world.warnings
    res["meta"]["duration_s"] = time.monotonic() - started
    # Other work on the machine competes with the measured processes for the 2 cores: estimate it
    # as all busy CPU time minus ours (this driver and every child it waited for: peers, functions).
    t = os.times()
    ours = (t.user + t.system + t.children_user + t.children_system) * CLK_TCK
    foreign = max(0.0, (system_busy_ticks() - busy0 - ours) / CLK_TCK)
    capacity = res["meta"]["duration_s"] * (os.cpu_count() or 1)
    res["meta"].update({"loadavg_1min_start": load0, "loadavg_1min_end": os.getloadavg()[0],
                        "foreign_cpu_s": foreign, "foreign_cpu_share": foreign / capacity})
    if foreign / capacity > 0.05:
        res["warnings"].append(
            f"other processes used {foreign:.0f} CPU-seconds during the run ({100 * foreign / capacity:.0f}% of "
            f"the machine): latency and init figures are disturbed; rerun on a quiet machine")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = report(res)
    for name in (f"bench-{stamp}", "latest"):
        (RESULTS / f"{name}.md").write_text(text)
        (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(text)
    log(f"written: {RESULTS}/bench-{stamp}.md and .json (also latest.md / latest.json); logs in {WORK}/logs")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
