#!/usr/bin/env bash
# The whole pipeline, locally, in one command: starts the peers (s3s-fs for S3, moto for DynamoDB,
# the Cloudflare Stream emulator), creates the bucket and the table (from template.yaml), uploads a
# real video, delivers its S3 notification to the real `ingest` binary through the Lambda Runtime
# API (cargo lambda watch + invoke), prints the resulting DynamoDB record and a URL that plays the
# video (checked in headless Chromium), then stops everything (after Enter, when run in a terminal).
#
# `--migrate` goes on: starts the Mux emulator, moves the library to Mux with `vinofy migrate --to mux
# --delete-old`, prints the switched record and plays its new Mux URL.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

MIGRATE=false
ARGS=()
for arg in "$@"; do
  if [ "$arg" = --migrate ]; then MIGRATE=true; else ARGS+=("$arg"); fi
done
KEY=${ARGS[0]:-"uploads/Vinofy demo (1) + café.mp4"}
ACCOUNT_ID=0123456789abcdef0123456789abcdef
TOKEN="local-demo-token-$RANDOM$RANDOM"
BUCKET=vinofy-uploads-local
TABLE=vinofy-videos-local
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$2 did not start on port $1" >&2; exit 1
}

setup_tools
log "building the ingest function and the Stream emulator"
cargo build --workspace --bins --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

S3_PORT=$(free_port); DDB_PORT=$(free_port); LAMBDA_PORT=$(free_port); WEBHOOK_RT_PORT=$(free_port); WEBHOOK_URL_PORT=$(free_port)
export AWS_ACCESS_KEY_ID=vinofy-local-access AWS_SECRET_ACCESS_KEY=vinofy-local-secret-key AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=$AWS_REGION
export AWS_EC2_METADATA_DISABLED=true
log "starting s3s-fs (S3) on :$S3_PORT and moto (DynamoDB) on :$DDB_PORT"
mkdir -p "$work/s3"
s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$work/s3" \
  >"$work/s3s.log" 2>&1 & pids+=($!)
"$VENV/bin/python" scripts/moto_atomic.py -H 127.0.0.1 -p "$DDB_PORT" >"$work/moto.log" 2>&1 & pids+=($!)
WEBHOOK_SECRET="local-webhook-secret-$RANDOM$RANDOM"
MUX_WEBHOOK_SECRET="local-mux-webhook-secret-$RANDOM$RANDOM"
"$BIN/stream-emulator" --listen 127.0.0.1:0 --account-id "$ACCOUNT_ID" --token "$TOKEN" \
  --webhook-url "http://127.0.0.1:$WEBHOOK_URL_PORT/" --webhook-secret "$WEBHOOK_SECRET" \
  >"$work/emulator.out" 2>"$work/emulator.log" & pids+=($!)
wait_port "$S3_PORT" s3s-fs; wait_port "$DDB_PORT" moto
for _ in $(seq 1 100); do grep -q listening "$work/emulator.out" && break; sleep 0.1; done
EMULATOR=$(awk '/listening on/ {print $NF}' "$work/emulator.out")
log "Cloudflare Stream emulator on $EMULATOR"

world=("$VENV/bin/python" scripts/local_world.py --s3 "http://127.0.0.1:$S3_PORT" --dynamodb "http://127.0.0.1:$DDB_PORT")
"${world[@]}" create --bucket "$BUCKET" --table "$TABLE"
log "uploading fixtures/sample.mp4 as s3://$BUCKET/$KEY"
"${world[@]}" upload --bucket "$BUCKET" --key "$KEY" --file fixtures/sample.mp4 >"$work/event.json"

log "starting the Lambda Runtime API (cargo lambda watch) on :$LAMBDA_PORT and the ingest binary against it"
cargo lambda watch --only-lambda-apis --timeout 60 --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
  >"$work/runtime.log" 2>&1 & pids+=($!)
wait_port "$LAMBDA_PORT" "cargo lambda watch"
# The function runs exactly as in Lambda: a process that long-polls the Runtime API for events.
env VIDEOS_TABLE="$TABLE" UPLOAD_BUCKET="$BUCKET" CLOUDFLARE_ACCOUNT_ID="$ACCOUNT_ID" \
  CLOUDFLARE_API_URL="$EMULATOR/client/v4" CLOUDFLARE_API_TOKEN="$TOKEN" AWS_ENDPOINT_URL_S3="http://127.0.0.1:$S3_PORT" \
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT" AWS_LAMBDA_LOG_FORMAT=JSON \
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$LAMBDA_PORT/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION=1 \
  "$BIN/ingest" >"$work/function.log" 2>&1 & pids+=($!)

log "starting the webhook function behind a local Function URL on :$WEBHOOK_URL_PORT (the emulator's webhook target)"
cargo lambda watch --only-lambda-apis --timeout 60 --invoke-address 127.0.0.1 --invoke-port "$WEBHOOK_RT_PORT" \
  >"$work/webhook-runtime.log" 2>&1 & pids+=($!)
wait_port "$WEBHOOK_RT_PORT" "cargo lambda watch (webhook)"
env VIDEOS_TABLE="$TABLE" CLOUDFLARE_WEBHOOK_SECRET="$WEBHOOK_SECRET" MUX_WEBHOOK_SECRET="$MUX_WEBHOOK_SECRET" \
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT" \
  AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$WEBHOOK_RT_PORT/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION=1 \
  "$BIN/webhook" >"$work/webhook.log" 2>&1 & pids+=($!)
"$VENV/bin/python" scripts/function_url.py "$WEBHOOK_URL_PORT" "$WEBHOOK_RT_PORT" 2>"$work/function-url.log" & pids+=($!)
wait_port "$WEBHOOK_URL_PORT" "the local Function URL"

log "delivering the S3 notification (key as S3 encodes it: $(grep -o '"key": "[^"]*"' "$work/event.json" | cut -d'"' -f4))"
timeout 120 cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file "$work/event.json" \
  --output-format json | tee "$work/response.json"
echo

log "waiting for Cloudflare (the emulator) to fetch the video through the presigned URL"
uid=$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["video_uid"])' "$work/response.json")
for _ in $(seq 1 100); do
  state=$(curl -s -H "Authorization: Bearer $TOKEN" "$EMULATOR/client/v4/accounts/$ACCOUNT_ID/stream/$uid" |
    "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["result"]["status"]["state"])')
  [ "$state" = ready ] || [ "$state" = error ] && break
  sleep 0.1
done
log "Stream video $uid is now: $state"

log "waiting for the signed readiness webhook to reach the webhook function"
for _ in $(seq 1 100); do
  status=$("${world[@]}" record --table "$TABLE" --source "s3://$BUCKET/$KEY" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$status" = ready ] || [ "$status" = error ] && break
  sleep 0.2
done
log "the DynamoDB record for s3://$BUCKET/$KEY:"
"${world[@]}" record --table "$TABLE" --source "s3://$BUCKET/$KEY"
log "function logs (JSON, as in CloudWatch):"
grep -E '"level"' "$work/function.log" | tail -n 3 || true

WATCH="$EMULATOR/$uid/watch"
log "watch it: $WATCH  (HLS: $EMULATOR/$uid/manifest/video.m3u8)"
mkdir -p "$ROOT/.local"
if node devtools/player/check-playback.mjs "$WATCH" --screenshot "$ROOT/.local/demo-playback.png"; then
  log "headless Chromium played it (screenshot: .local/demo-playback.png)"
else
  log "headless Chromium could not play it (see above)"; exit 1
fi
if [ "$MIGRATE" = true ]; then
  MUX_ID="local-mux-id-$RANDOM"; MUX_SECRET="local-mux-secret-$RANDOM$RANDOM"
  "$BIN/mux-emulator" --listen 127.0.0.1:0 --token-id "$MUX_ID" --token-secret "$MUX_SECRET" \
    --webhook-url "http://127.0.0.1:$WEBHOOK_URL_PORT/" --webhook-secret "$MUX_WEBHOOK_SECRET" \
    >"$work/mux.out" 2>"$work/mux.log" & pids+=($!)
  for _ in $(seq 1 100); do grep -q listening "$work/mux.out" && break; sleep 0.1; done
  MUX=$(awk '/listening on/ {print $NF}' "$work/mux.out")
  log "Mux emulator on $MUX; moving the library there: vinofy migrate --to mux --delete-old"
  env VIDEOS_TABLE="$TABLE" UPLOAD_BUCKET="$BUCKET" CLOUDFLARE_ACCOUNT_ID="$ACCOUNT_ID" \
    CLOUDFLARE_API_URL="$EMULATOR/client/v4" CLOUDFLARE_API_TOKEN="$TOKEN" VIDEO_PROVIDER=mux \
    MUX_TOKEN_ID="$MUX_ID" MUX_TOKEN_SECRET="$MUX_SECRET" MUX_API_URL="$MUX" MUX_STREAM_URL="$MUX" MUX_IMAGE_URL="$MUX" \
    AWS_ENDPOINT_URL_S3="http://127.0.0.1:$S3_PORT" AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT" \
    VINOFY_ALLOW_LONG_TERM_CREDENTIALS=1 "$BIN/vinofy" migrate --to mux --delete-old --poll-every 1s
  log "the record, switched to Mux (previous_* kept for rollback):"
  "${world[@]}" record --table "$TABLE" --source "s3://$BUCKET/$KEY" | tee "$work/migrated.json"
  playback_id=$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["playback_id"])' "$work/migrated.json")
  WATCH="$MUX/$playback_id/watch"
  log "watch it on Mux: $WATCH  (HLS: $MUX/$playback_id.m3u8)"
  if node devtools/player/check-playback.mjs "$WATCH" --screenshot "$ROOT/.local/demo-playback-mux.png"; then
    log "headless Chromium played the migrated video (screenshot: .local/demo-playback-mux.png)"
  else
    log "headless Chromium could not play the migrated video (see above)"; exit 1
  fi
fi
if [ -t 0 ]; then
  read -r -p "The peers keep running so the URL plays in your browser. Press Enter to stop them. " _
fi
log "done; stopping the peers"
