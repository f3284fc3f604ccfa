#!/usr/bin/env bash
# Runs every test: unit tests, and the integration tests that start their own local peers
# (s3s-fs for S3, moto for DynamoDB and Secrets Manager, the Cloudflare Stream emulator) and drive
# the real `ingest` binary through the Lambda Runtime API; then the IAM conformance check of every
# AWS call the binaries made (the full check only without arguments: `scripts/test.sh FILTER` runs a part).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_tools
cd "$ROOT"
log "building"
cargo build --workspace --bins --quiet
# The harness logs every AWS call the binaries make here (crates/vinofy-test-support/src/harness/iam_recorder.rs); the IAM
# conformance check reads it after the run, so it starts empty.
export VINOFY_IAM_LOG_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/iam-actions"
rm -rf "$VINOFY_IAM_LOG_DIR"
log "IAM conformance checker: self-test"
"$VENV/bin/python" scripts/iam_conformance.py --self-test
log "testing"
cargo test --workspace --quiet "$@"
if [ $# -eq 0 ]; then
  log "IAM conformance: every call granted, every grant exercised (or explained), README matrix current"
  "$VENV/bin/python" scripts/iam_conformance.py
else
  # A filtered run exercises only part of the code: unexercised grants prove nothing then.
  log "IAM conformance (filtered run): every recorded call granted, README matrix current"
  "$VENV/bin/python" scripts/iam_conformance.py --partial
fi
