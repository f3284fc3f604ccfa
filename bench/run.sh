#!/usr/bin/env bash
# The benchmark: the Rust `ingest` function vs the Python baseline, on local peers, in one run.
#
#   bash bench/run.sh                      # EVENTS=1000 COLD_STARTS=20
#   EVENTS=50 COLD_STARTS=3 bash bench/run.sh
#   BENCH_PHASES=burst bash bench/run.sh   # only the burst phase (the shared call budget under load)
#   BENCH_PHASES=migrate bash bench/run.sh # vinofy migrate: 100 videos to Mux and back (tests/bench_migrate.rs)
#
# Builds what it needs (release; the first release build of the crate takes several minutes on 2
# cores), installs the peers and bench/.venv if missing, runs bench/bench.py, and prints the table.
# Results: bench/results/latest.{md,json} (and a timestamped copy). See bench/README.md.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

WORKDIR=$(mktemp -d /tmp/vinofy-bench.XXXXXX)
DRIVER_PID=
cleanup() {
  local rc=$?
  # bench.py stops its own children (and they die with it: PR_SET_PDEATHSIG); this is the backstop.
  if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  if [ "$rc" -eq 0 ] && [ -z "${KEEP_WORKDIR:-}" ]; then rm -rf "$WORKDIR"; else log "scratch and logs kept in $WORKDIR"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. The peers (moto in .venv, s3s-fs in ~/.cargo/bin): the project's own setup script installs them.
# bench/dynamodb_peer.py serves moto under waitress; scripts/tls_proxy.py makes its certificates with
# cryptography (a moto dependency). All three come from scripts/requirements-dev.txt.
# BENCH_PEERS_VENV / BENCH_VENV: use existing virtualenvs instead (e.g. another checkout's, from a git
# worktree); they are only checked, never installed into or rebuilt.
if [ -n "${BENCH_PEERS_VENV:-}" ]; then
  if ! "$BENCH_PEERS_VENV/bin/python" -c 'import moto, waitress, cryptography' 2>/dev/null; then
    log "BENCH_PEERS_VENV=$BENCH_PEERS_VENV has no moto, waitress and cryptography"; exit 1
  fi
  command -v s3s-fs >/dev/null || { log "s3s-fs is not on PATH (bash scripts/setup.sh installs it)"; exit 1; }
  export BENCH_PEERS_VENV
elif ! "$ROOT/.venv/bin/python" -c 'import moto, waitress, cryptography' 2>/dev/null || ! command -v s3s-fs >/dev/null; then
  if [ -f "$ROOT/scripts/setup.sh" ]; then
    log "installing the local peers (scripts/setup.sh)"
    bash "$ROOT/scripts/setup.sh"
  else
    log "installing the local peers (moto into .venv, s3s-fs with cargo)"
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install --quiet --disable-pip-version-check 'moto[dynamodb,server]==5.2.5' 'waitress==3.0.2'
    cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet
  fi
fi

# 2. bench/.venv: awslambdaric + boto3 for the Python baseline (and the driver).
VENV="${BENCH_VENV:-$BENCH/.venv}"
want=$({ cat "$BENCH/requirements.txt"; echo "recipe 2: setuptools removed"; } | sha256sum | cut -d' ' -f1)
if [ -n "${BENCH_VENV:-}" ]; then
  if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    log "BENCH_VENV=$VENV was not made from this bench/requirements.txt (run without BENCH_VENV to make bench/.venv)"; exit 1
  fi
  export BENCH_VENV
elif [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  log "installing bench/.venv (awslambdaric, boto3)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$BENCH/requirements.txt"
  # setuptools' distutils-precedence.pth runs at every interpreter start; the Lambda runtime has no such hook.
  "$VENV/bin/pip" uninstall --quiet --disable-pip-version-check -y setuptools
  echo "$want" >"$VENV/.requirements.sha256"
fi

# The migrate phase runs the real `vinofy` against the test harness's local world (debug builds, as
# the test suite's; the figures are ratios to a baseline and to the budgets' floor of the same run).
PHASES=${BENCH_PHASES:-main,burst}
if [[ ",$PHASES," == *",migrate,"* ]]; then
  log "migrate phase: cargo build --workspace --bins, then tests/bench_migrate.rs (about 4 minutes)"
  cargo build --workspace --bins --quiet
  mkdir -p "$BENCH/results"
  PATH="$ROOT/.venv/bin:$PATH" BENCH_MIGRATE_OUT="$BENCH/results/migrate-latest.json" \
    cargo test --quiet --test bench_migrate -- --ignored --nocapture
  log "migrate figures: $BENCH/results/migrate-latest.json"
  PHASES=$(echo ",$PHASES," | sed 's/,migrate,/,/g; s/^,//; s/,$//')
  [ -n "$PHASES" ] || exit 0
  export BENCH_PHASES=$PHASES
fi

# 3. Release builds (cargo is a no-op when nothing changed).
log "cargo build --release (ingest, stream-emulator); the first build takes several minutes on 2 cores"
if ! cargo build --release --quiet --bin ingest; then
  log "the Rust function does not build right now"; exit 1
fi
if ! cargo build --release --quiet -p stream-emulator; then
  log "stream-emulator (devtools/stream-emulator, in progress elsewhere) does not build right now; retry later"
  exit 1
fi

# Where cargo put them: CARGO_TARGET_DIR (or a build.target-dir in a cargo config) if set, else
# target/ at the workspace root. cargo metadata resolves all of that (a relative CARGO_TARGET_DIR
# is relative to $ROOT, where cargo ran).
if ! TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'); then
  log "cargo metadata failed: cannot tell where the release binaries are"; exit 1
fi
for bin in ingest stream-emulator; do
  [ -x "$TARGET_DIR/release/$bin" ] || { log "built, but $TARGET_DIR/release/$bin is missing"; exit 1; }
done

# 4. Measure.
log "running the benchmark (BENCH_PHASES=${BENCH_PHASES:-main,burst} EVENTS=${EVENTS:-1000} COLD_STARTS=${COLD_STARTS:-20}; binaries from $TARGET_DIR/release)"
BENCH_TARGET_DIR="$TARGET_DIR" BENCH_WORKDIR="$WORKDIR" "$VENV/bin/python" "$BENCH/bench.py" &
DRIVER_PID=$!
wait "$DRIVER_PID"
