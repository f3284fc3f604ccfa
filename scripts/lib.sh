# Shared shell helpers: sourced by the other scripts, never run directly.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VINOFY_VENV:-$ROOT/.venv}
S3S_FS_VERSION=0.14.1
export PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# Installs everything the local world needs. Idempotent and cached: a second run does nothing.
setup_tools() {
  local req="$ROOT/scripts/requirements-dev.txt" stamp="$VENV/.requirements.sha256"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python tools (moto, cfn-lint, cargo-lambda) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
  fi
  # ffmpeg (the emulator transcodes to HLS) and Chromium (the playback test), from Debian.
  local missing=()
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # hls.js for the emulator's watch page, playwright-core for the headless check (npm, pinned by the lock file).
  local lock="$ROOT/devtools/player/package-lock.json" npm_stamp="$ROOT/devtools/player/node_modules/.lock.sha256"
  if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$(sha256sum "$lock" | cut -d' ' -f1)" ]; then
    log "installing the player's npm packages (hls.js, playwright-core)"
    npm ci --prefix "$ROOT/devtools/player" --no-audit --no-fund --loglevel=error >/dev/null
    sha256sum "$lock" | cut -d' ' -f1 >"$npm_stamp"
  fi
  if [ "$(s3s-fs --version 2>/dev/null)" != "s3s-fs $S3S_FS_VERSION" ]; then
    log "installing s3s-fs $S3S_FS_VERSION (S3 peer that verifies SigV4 and presigned URLs; ~3 min once)"
    cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --quiet
  fi
}
