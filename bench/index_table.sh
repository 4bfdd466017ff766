#!/usr/bin/env bash
# Markdown tables from bench_index's JSON rows (stdin or files): single-query search latency,
# memory and recall per size and index, and the exact-search variants (filters, a 64-query batch).
# The tables in docs/performance.md are this script's output on the rows committed in docs/bench/.
#
# Usage: build/bench/bench_index --data=lowrank ... | bench/index_table.sh
#        bench/index_table.sh docs/bench/index-lowrank.jsonl
set -euo pipefail
command -v jq > /dev/null || { echo "index_table: jq is needed (scripts/setup installs it)" >&2; exit 1; }
rows="$(cat "$@")"

echo "| n | index | efSearch | p50 ms | p99 ms | memory | build s | recall@10 fresh | recall@10 near |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
jq -r 'select(.bench == "index_search") |
  if .skipped then
    "| \(.n) | \(.index) | | not built: estimated \(.estimated_build_s | floor) s | | ~\(.estimated_memory_bytes / 1e6 | floor) MB | | | |"
  else
    "| \(.n) | \(.index) | \(.ef_search // "exact") | \(.p50_ms * 100 | round / 100) | \(.p99_ms * 100 | round / 100) | " +
    "\(.memory_bytes / 1e6 * 10 | round / 10) MB | \(.build_s * 10 | round / 10) | " +
    "\(.recall_at_10_fresh_queries // .recall_at_10 | . * 1000 | round / 1000) | " +
    "\(.recall_at_10_near_queries // .recall_at_10 | . * 1000 | round / 1000) |"
  end' <<< "$rows"

echo
echo "| n | exact search variant | ms per query (p50) | unfiltered p50 ms |"
echo "|---:|---|---:|---:|"
jq -r 'select(.bench == "index_search_filtered" or .bench == "index_search_batch") |
  if .bench == "index_search_batch" then
    "| \(.n) | batch of \(.batch) queries | \(.ms_per_query * 100 | round / 100) | |"
  else
    "| \(.n) | filter `\(.filter)` | \(.p50_ms * 100 | round / 100) | \(.unfiltered_p50_ms * 100 | round / 100) |"
  end' <<< "$rows"
