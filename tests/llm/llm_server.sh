#!/usr/bin/env bash
# Starts or stops the LLM test server by hand (the C++ tests start their own).
#   tests/llm/llm_server.sh start [PORT] [WORK_DIR]   prints the base URL; PID in WORK_DIR/server.pid
#   tests/llm/llm_server.sh stop [WORK_DIR]
# WORK_DIR (default /tmp/cir-llm) holds the tiny GGUF, the log and the PID file. Binds 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:-}"

case "$cmd" in
  start)
    port="${2:-18080}"
    work="${3:-/tmp/cir-llm}"
    mkdir -p "$work"
    if [ ! -d "$here/node_modules/inference-server" ]; then
      echo "llm_server: run 'npm ci --prefix tests/llm --omit=optional --ignore-scripts' (scripts/setup does) first" >&2
      exit 1
    fi
    [ -f "$work/tiny-llama.gguf" ] || node "$here/write_tiny_gguf.mjs" "$work/tiny-llama.gguf"
    node "$here/serve.mjs" --model "$work/tiny-llama.gguf" --port "$port" --cache-dir "$work/server-cache" \
      --concurrency "${CIR_LLM_SERVER_CONCURRENCY:-2}" >"$work/server.log" 2>&1 &
    echo $! >"$work/server.pid"
    for _ in $(seq 1 300); do
      if curl -fs "http://127.0.0.1:$port/openai/v1/models" >/dev/null 2>&1; then
        echo "http://127.0.0.1:$port/openai/v1"
        exit 0
      fi
      if ! kill -0 "$(cat "$work/server.pid")" 2>/dev/null; then
        echo "llm_server: the server exited; log:" >&2
        cat "$work/server.log" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "llm_server: no answer on port $port after 60 s; log in $work/server.log" >&2
    exit 1
    ;;
  stop)
    work="${2:-/tmp/cir-llm}"
    if [ -f "$work/server.pid" ]; then
      pid="$(cat "$work/server.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
      rm -f "$work/server.pid"
    fi
    ;;
  *)
    echo "usage: $0 start [PORT] [WORK_DIR] | stop [WORK_DIR]" >&2
    exit 2
    ;;
esac
