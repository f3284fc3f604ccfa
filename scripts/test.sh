#!/usr/bin/env bash
# Runs every test: unit tests, and the integration tests that start their own local peers
# (s3s-fs for S3, moto for DynamoDB and Secrets Manager, the Cloudflare Stream emulator) and drive
# the real `ingest` binary through the Lambda Runtime API.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_tools
cd "$ROOT"
log "building"
cargo build --workspace --bins --quiet
log "testing"
cargo test --workspace --quiet "$@"
