#!/usr/bin/env bash
# Installs the local tools: moto, cfn-lint and cargo-lambda into .venv; s3s-fs with cargo.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_tools
log "tools ready"
