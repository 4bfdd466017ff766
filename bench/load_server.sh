#!/usr/bin/env bash
# Bounded load test of `cir serve` on loopback with wrk: QPS and p50/p99 latency for searches whose
# reference is a gallery id (stored vector reused: text encoding + search) and an uploaded image
# (decode + image encoding + text encoding + search), at 1 and 8 concurrent clients; then
# keep-alive against Connection: close, side by side, for /healthz (16 clients) and gallery-id
# searches (8 clients): keep-alive must not be slower (Nagle + delayed ACK once cost ~40 ms per
# keep-alive response). Prints one JSON row per case (same fields as bench/bench_util.h emit_row).
#
# Usage: bench/load_server.sh [CIR_BINARY] [MODEL_DIR] [SECONDS_PER_CASE]
set -euo pipefail
cd "$(dirname "$0")/.."
CIR="${1:-build/cir}"
MODEL="${2:-../shared/fixtures/clip/vit/hf}"
SECONDS_PER_CASE="${3:-10}"
SCENES="${CIR_BENCH_SCENES:-400}"
command -v wrk >/dev/null || { echo "load_server: wrk not installed (apt-get install wrk)" >&2; exit 77; }
[ -x "$CIR" ] || { echo "load_server: $CIR not built" >&2; exit 1; }
[ -d "$MODEL" ] || { echo "load_server: model $MODEL absent" >&2; exit 77; }

WORK="$(mktemp -d /tmp/cir-load-XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$CIR" synth --out "$WORK/world" --n-scenes "$SCENES" --image-size 64 --max-queries 50 --seed 7 >/dev/null 2>&1
"$CIR" index build --images "$WORK/world/images/train" --model "$MODEL" --out "$WORK/index" --quiet >/dev/null 2>&1
N_ITEMS=$(find "$WORK/world/images/train" -name '*.png' | wc -l)

"$CIR" serve --index "shapes=$WORK/index" --port 0 --threads 8 2>"$WORK/serve.log" &
SERVER_PID=$!
for _ in $(seq 1 200); do
  grep -q "listening on" "$WORK/serve.log" && break
  sleep 0.1
done
URL=$(grep -o 'http://[^ ]*/' "$WORK/serve.log" | head -1)
[ -n "$URL" ] || { cat "$WORK/serve.log" >&2; exit 1; }

REF_FILE=$(find "$WORK/world/images/train" -name '*.png' | sort | head -1)
REF_ID=$(basename "$REF_FILE")
printf '{"query":{"reference":{"id":"%s"},"text":"add a red circle"},"limit":20}' "$REF_ID" >"$WORK/gallery.json"
printf '{"query":{"reference":{"image":"%s"},"text":"add a red circle"},"limit":20}' "$(base64 -w0 "$REF_FILE")" >"$WORK/upload.json"

cat >"$WORK/post.lua" <<'LUA'
if os.getenv("CIR_BODY") then
  local f = assert(io.open(os.getenv("CIR_BODY"), "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end
if os.getenv("CIR_CLOSE") == "1" then wrk.headers["Connection"] = "close" end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f, "errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# emit_row CASE-FIELDS-JSON WRK-ROW: one JSON row with the common fields.
emit_row() {
  node -e '
    const extra = JSON.parse(process.argv[1]), r = JSON.parse(process.argv[2]);
    const row = Object.assign({bench: "server_load", commit: process.argv[3], machine: process.argv[4],
                               gallery_items: Number(process.argv[5])}, extra,
                              {qps: +(r.requests / r.seconds).toFixed(2), p50_ms: r.p50_ms, p99_ms: r.p99_ms,
                               mean_ms: r.mean_ms, requests: r.requests, errors: r.errors, non_2xx: r.non_2xx});
    console.log(JSON.stringify(row));' "$1" "$2" "$COMMIT" "$MACHINE" "$N_ITEMS"
}
MACHINE="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x$(nproc)"
for reference in gallery upload; do
  for clients in 1 8; do
    threads=$(( clients < 2 ? 1 : 2 ))
    # Warm-up (model caches, page cache), then the measured run.
    CIR_BODY="$WORK/$reference.json" wrk -t1 -c1 -d2s -s "$WORK/post.lua" "${URL}v1/indexes/shapes/search" >/dev/null
    row=$(CIR_BODY="$WORK/$reference.json" wrk -t"$threads" -c"$clients" -d"${SECONDS_PER_CASE}s" --timeout 30s \
            -s "$WORK/post.lua" "${URL}v1/indexes/shapes/search" | sed -n 's/^WRK //p')
    emit_row "{\"reference\": \"$reference\", \"clients\": $clients, \"limit\": 20}" "$row"
  done
done

# Keep-alive vs Connection: close on the same routes and client counts.
for route in healthz search; do
  clients=$([ "$route" = healthz ] && echo 16 || echo 8)
  for connection in keep-alive close; do
    close=$([ "$connection" = close ] && echo 1 || echo 0)
    if [ "$route" = healthz ]; then
      row=$(CIR_CLOSE=$close wrk -t2 -c"$clients" -d"${SECONDS_PER_CASE}s" --timeout 30s -s "$WORK/post.lua" \
              "${URL}healthz" | sed -n 's/^WRK //p')
    else
      row=$(CIR_CLOSE=$close CIR_BODY="$WORK/gallery.json" wrk -t2 -c"$clients" -d"${SECONDS_PER_CASE}s" --timeout 30s \
              -s "$WORK/post.lua" "${URL}v1/indexes/shapes/search" | sed -n 's/^WRK //p')
    fi
    emit_row "{\"route\": \"$route\", \"connection\": \"$connection\", \"clients\": $clients}" "$row"
  done
done
