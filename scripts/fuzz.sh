#!/usr/bin/env bash
# The long fuzz run: FUZZ_CASES inputs per property (default 1,000,000) over every decoder of
# untrusted input, in release mode. CI runs the same properties with a small FUZZ_CASES.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_CASES=${FUZZ_CASES:-1000000}
echo "fuzzing with $FUZZ_CASES inputs per property (5 properties)"
time cargo test --profile fuzz --test fuzz_decoding -- --test-threads 2
