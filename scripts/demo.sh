#!/usr/bin/env bash
# The whole pipeline, locally, in one command: starts the peers (s3s-fs for S3, moto for DynamoDB,
# the Cloudflare Stream emulator), creates the bucket and the table (from template.yaml), uploads a
# real video, delivers its S3 notification to the real `ingest` binary through the Lambda Runtime
# API (cargo lambda watch + invoke), prints the resulting DynamoDB record and a URL that plays the
# video (checked in headless Chromium), then stops everything (after Enter, when run in a terminal).
#
# `--migrate` goes on: starts the Mux emulator, moves the library to Mux with `vinofy migrate --to mux
# --delete-old`, prints the switched record and plays its new Mux URL.
#
# `--auth` takes the app user's path instead of the staff upload: a dev OpenID Connect issuer
# (devtools/dev-oidc) mints a token, the real `api` function (behind a local Function URL) hands out
# a presigned PUT into the user's own space, curl PUTs the file, the video is created private
# (requireSignedURLs), `vinofy signing-key create` stores a signing key, and the API's signed URL
# plays in headless Chromium while the unsigned one is refused.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

MIGRATE=false
AUTH=false
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --migrate) MIGRATE=true ;;
    --auth) AUTH=true ;;
    *) ARGS+=("$arg") ;;
  esac
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
API_RT_PORT=$(free_port); API_URL_PORT=$(free_port)
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
if [ "$AUTH" = false ]; then
  log "uploading fixtures/sample.mp4 as s3://$BUCKET/$KEY"
  "${world[@]}" upload --bucket "$BUCKET" --key "$KEY" --file fixtures/sample.mp4 >"$work/event.json"
fi

log "starting the Lambda Runtime API (cargo lambda watch) on :$LAMBDA_PORT and the ingest binary against it"
cargo lambda watch --only-lambda-apis --timeout 60 --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
  >"$work/runtime.log" 2>&1 & pids+=($!)
wait_port "$LAMBDA_PORT" "cargo lambda watch"
# The function runs exactly as in Lambda: a process that long-polls the Runtime API for events.
# (--auth: app users' videos are private, playable only with the api function's signed URLs.)
env VIDEOS_TABLE="$TABLE" UPLOAD_BUCKET="$BUCKET" CLOUDFLARE_ACCOUNT_ID="$ACCOUNT_ID" STREAM_REQUIRE_SIGNED_URLS="$AUTH" \
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

py() { "$VENV/bin/python" -c "$@"; }
if [ "$AUTH" = true ]; then
  OIDC_DIR="$work/oidc"; AUDIENCE=vinofy-api; USER_SUB='auth0|demo-taster'
  OIDC_PORT=$(free_port); ISSUER="http://127.0.0.1:$OIDC_PORT"
  "$BIN/dev-oidc" init --state-dir "$OIDC_DIR" --issuer "$ISSUER" >/dev/null
  "$BIN/dev-oidc" serve --state-dir "$OIDC_DIR" --listen "127.0.0.1:$OIDC_PORT" >"$work/oidc.out" 2>"$work/oidc.log" & pids+=($!)
  wait_port "$OIDC_PORT" dev-oidc
  log "dev OpenID Connect issuer on $ISSUER (JWKS: $ISSUER/.well-known/jwks.json)"

  export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$DDB_PORT"
  KEY_SECRET=$("${world[@]}" secret --name stream-signing-key --value '{"id": "REPLACE_WITH_KEY_ID", "pem": "REPLACE_WITH_BASE64_PEM"}')
  log "vinofy signing-key create: a playback signing key from the emulator's POST /stream/keys, into $KEY_SECRET"
  env CLOUDFLARE_ACCOUNT_ID="$ACCOUNT_ID" CLOUDFLARE_API_URL="$EMULATOR/client/v4" CLOUDFLARE_API_TOKEN="$TOKEN" \
    "$BIN/vinofy" signing-key create --secret-arn "$KEY_SECRET"

  log "starting the api function behind a local Function URL on :$API_URL_PORT"
  cargo lambda watch --only-lambda-apis --timeout 60 --invoke-address 127.0.0.1 --invoke-port "$API_RT_PORT" \
    >"$work/api-runtime.log" 2>&1 & pids+=($!)
  wait_port "$API_RT_PORT" "cargo lambda watch (api)"
  env VIDEOS_TABLE="$TABLE" UPLOAD_BUCKET="$BUCKET" AUTH_ISSUER="$ISSUER" AUTH_AUDIENCE="$AUDIENCE" \
    AUTH_JWKS_URL="$ISSUER/.well-known/jwks.json" STREAM_SIGNING_KEY_SECRET_ARN="$KEY_SECRET" \
    AWS_ENDPOINT_URL_S3="http://127.0.0.1:$S3_PORT" AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT" \
    AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$API_RT_PORT/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION=1 \
    "$BIN/api" >"$work/api.log" 2>&1 & pids+=($!)
  "$VENV/bin/python" scripts/function_url.py "$API_URL_PORT" "$API_RT_PORT" 2>"$work/api-url.log" & pids+=($!)
  wait_port "$API_URL_PORT" "the api Function URL"
  API="http://127.0.0.1:$API_URL_PORT"

  log "minting a token for $USER_SUB (dev-oidc mint) and asking the API for an upload URL"
  USER_TOKEN=$("$BIN/dev-oidc" mint --state-dir "$OIDC_DIR" --sub "$USER_SUB" --aud "$AUDIENCE")
  echo "  without a token: HTTP $(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/uploads")"
  SIZE=$(stat -c %s fixtures/sample.mp4)
  curl -s -X POST "$API/uploads" -H "Authorization: Bearer $USER_TOKEN" \
    -d "{\"filename\": \"Tasting notes (demo).mp4\", \"size\": $SIZE, \"content_type\": \"video/mp4\"}" >"$work/upload.json"
  KEY=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$work/upload.json")
  log "POST /uploads -> 201: PUT to s3://$BUCKET/$KEY (server-chosen, in the user's space), headers:"
  py 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["upload"]["headers"], indent=2))' "$work/upload.json"
  mapfile -t put_args < <(py 'import json,sys
u = json.load(open(sys.argv[1]))["upload"]
for k, v in u["headers"].items():
    if k != "content-length": print("-H"); print(f"{k}: {v}")
print(u["url"])' "$work/upload.json")
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @fixtures/sample.mp4 "${put_args[@]}")
  log "PUT with the presigned URL: HTTP $code"
  [ "$code" = 200 ] || { echo "the presigned PUT was refused" >&2; exit 1; }
  "${world[@]}" event --bucket "$BUCKET" --key "$KEY" >"$work/event.json"
fi

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
if [ "$AUTH" = true ]; then
  echo "  the recorded (unsigned) HLS URL: HTTP $(curl -s -o /dev/null -w '%{http_code}' "$EMULATOR/$uid/manifest/video.m3u8") (private video)"
  curl -s "$API/videos/$uid/playback" -H "Authorization: Bearer $USER_TOKEN" >"$work/playback.json"
  HLS=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["hls_url"])' "$work/playback.json")
  log "GET /videos/$uid/playback -> signed URLs until $(py 'import json,sys; print(json.load(open(sys.argv[1]))["expires_at"])' "$work/playback.json")"
  echo "  the signed HLS URL: HTTP $(curl -s -o /dev/null -w '%{http_code}' "$HLS")"
  OTHER=$("$BIN/dev-oidc" mint --state-dir "$OIDC_DIR" --sub 'auth0|someone-else' --aud "$AUDIENCE")
  echo "  another user asking for it: HTTP $(curl -s -o /dev/null -w '%{http_code}' "$API/videos/$uid/playback" -H "Authorization: Bearer $OTHER")"
  WATCH="${HLS%/manifest/video.m3u8}/watch"
fi
log "watch it: $WATCH  (HLS: ${HLS:-$EMULATOR/$uid/manifest/video.m3u8})"
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
