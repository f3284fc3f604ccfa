#!/usr/bin/env bash
# Regenerates fixtures/sample.mp4 (needs ffmpeg). The file is committed; this documents how it was made.
set -euo pipefail
cd "$(dirname "$0")/../fixtures"
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=320x180:rate=24" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 2 -c:v libx264 -profile:v high -pix_fmt yuv420p \
  -preset veryfast -crf 30 -c:a aac -b:a 64k -movflags +faststart -shortest sample.mp4 -y
