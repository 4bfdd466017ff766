#!/usr/bin/env bash
# `cir eval` end to end for every benchmark reader, through the real annotation files in
# ../shared/benchmarks, on fake image roots: each benchmark gets a temp root laid out as
# docs/benchmarks.md says (annotations symlinked, never copied into the repo) and small
# placeholder images (distinct colours, so rankings are not all ties) for the images the first
# N queries touch, plus a few distractors. The rest of each gallery is absent: ingestion records
# those images as failures and the run goes on. Checks: exit 0, report .md/.json/.svg, one JSON
# row per method with the benchmark's official metric names in the report's unit, and for CIRR
# and CIRCO a test-server submission that `cir eval score` scores to the same numbers.
#
# LaSCo's query file (lasco_val.json) is not in shared/benchmarks (see its README), so the LaSCo
# run uses the real val corpus with a small query file written for the test (by cir_make_fake_root)
# in the repository's format.
#
# The roots are written by cir_make_fake_root (tests/integration/make_fake_root.cpp, the third
# argument); the JSON outputs are checked with jq. No Python.
set -euo pipefail
CIR="$(realpath "$1")"
SHARED="$2"
MAKE_FAKE_ROOT="${3:-}"
BENCH="$SHARED/benchmarks"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODEL="$REPO/models/shapes-clip"
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -d "$BENCH" ]; then
  echo "SKIP: '$BENCH' is absent; place ../shared (with benchmarks/) beside the checkout"
  exit 77
fi
if [ ! -d "$MODEL" ]; then
  echo "SKIP: model '$MODEL' is absent"
  exit 77
fi
[ -n "$MAKE_FAKE_ROOT" ] && [ -x "$MAKE_FAKE_ROOT" ] ||
  fail "usage: $0 <cir> <shared> <cir_make_fake_root>; build the cir_make_fake_root target (got '$MAKE_FAKE_ROOT')"
MAKE_FAKE_ROOT="$(realpath "$MAKE_FAKE_ROOT")"
command -v jq > /dev/null || fail "jq is needed to check the JSON outputs (scripts/setup installs it)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
N=20          # queries per benchmark
N_FOCUS=3     # Focus-CoIR queries carry 500 candidates each
METHODS=image,text,sum
export XDG_CACHE_HOME="$WORK/cache"  # nothing lands in the user's cache

# prepare <benchmark> <root> <n>: symlinked annotations and placeholder images (prints
# "<benchmark>: <count> placeholder images").
prepare() { "$MAKE_FAKE_ROOT" "$1" "$2" "$BENCH" "$3"; }

# Formats "<tab-separated k v pairs>" lines from jq as "k=v" with Python's {:.4g}, joined by <sep>.
format_g4() { awk -F '\t' -v sep="$1" '{ s = ""; for (i = 1; i < NF; i += 2) s = s (i > 1 ? sep : "") sprintf("%s=%.4g", $i, $(i + 1)); print s }'; }

# check_report <report.json> <benchmark> <methods> <n>: one row per method, the official metric
# names, values in the unit's range. Prints one line per method.
check_report() {
  local path="$1" bench="$2" methods="$3" n="$4" errors rows
  local filter='
    {
      "cirr": [["recall@1", "recall@5", "recall@10", "recall@50", "recall_subset@1", "recall_subset@2",
                "recall_subset@3", "avg"], "percent"],
      "circo": [["map@5", "map@10", "map@25", "map@50", "recall@5", "recall@10", "recall@25", "recall@50"], "percent"],
      "fashioniq": [["recall@10", "recall@50"], "percent"],
      "lasco": [["recall@1", "recall@5", "recall@10", "recall@50", "recall@100", "recall@500"], "percent"],
      "focus-coir": [["ap", "ap@20", "ap@20_standard", "p@20", "p@50"], "fraction"]
    } as $expected
    | $expected[$bench | if startswith("fashioniq") then "fashioniq" else . end] as [$names, $unit]
    | (if $unit == "percent" then [100.0, "100.0"] else [1.0, "1.0"] end) as [$top, $top_text]'
  errors=$(jq -n -r --arg bench "$bench" --arg methods "$methods" --argjson n "$n" "$filter"'
    | input
    | [ (if .benchmark != $bench then "benchmark \(.benchmark | tojson)" else empty end),
        (if .n_queries != $n then "n_queries \(.n_queries) != \($n)" else empty end),
        (if [.results[].method] != ($methods | split(",")) then "methods \([.results[].method] | tojson)" else empty end),
        (.results[] | .method as $method | .metrics as $m
         | (if .unit != $unit then "\($method): unit \(.unit | tojson) != \($unit | tojson)" else empty end),
           ([$names[] | select(. as $k | $m | has($k) | not)] as $missing
            | if $missing != [] then "\($method): missing \($missing | tojson) (has \($m | keys_unsorted | tojson))"
              else empty end),
           (if $bench == "circo" and ([$m | keys_unsorted[] | select(startswith("semantic_map@10/"))] == [])
            then "\($method): no semantic_map@10/<aspect>" else empty end),
           ($m | to_entries[] | select((.value | type) != "number" or .value < 0 or .value > $top)
            | "\($method): \(.key) = \(.value) outside [0, \($top_text)]"))
      ] | join("; ")' "$path") || { echo "report check failed: cannot read $path"; return 1; }
  rows=$(jq -n -r --arg bench "$bench" "$filter"'
    | input | .results[] | .metrics as $m
    | [.method, ($names[] | select(. as $k | $m | has($k)) | ., ($m[.] | tostring))] | @tsv' "$path") ||
    return 1
  if [ -n "$rows" ]; then
    while IFS=$'\t' read -r method pairs; do
      printf '  %s %-6s %s\n' "$bench" "$method" "$(printf '%s\n' "$pairs" | format_g4 '  ')"
    done <<< "$rows"
  fi
  if [ -n "$errors" ]; then
    echo "report check failed: $errors"
    return 1
  fi
}

# check_submission <file> <benchmark> <n> <recall|recall_subset|circo>: the server format;
# prints nothing on success.
check_submission() {
  jq -n -e --arg bench "$2" --argjson n "$3" --arg kind "$4" '
    input
    | {"recall": 50, "recall_subset": 3, "circo": 50}[$kind] as $length
    | if $bench == "cirr" then
        (if .version != "rc2" then error("version") else . end)
        | (if .metric != $kind then error("metric") else . end)
        | del(.version, .metric)
      else . end
    | if length != $n then error("\(length) queries, expected \($n)") else . end
    | [ to_entries[] | .key as $key | .value as $ids
        | if ($key | test("^[0-9]+$") | not) then error("key \($key | tojson)")
          elif ($ids | length) != $length then error("query \($key): \($ids | length) ids, expected \($length)")
          elif ($ids | unique | length) != ($ids | length) then error("query \($key): duplicate ids")
          elif ([$ids[] | if type == "number" and . == floor then "int" else type end] | unique)
               != [if $bench == "circo" then "int" else "string" end]
          then error("query \($key): id types \([$ids[] | type] | unique | tojson)")
          else true end ]
    | all' "$1" > /dev/null
}

# compare_scores <report.json> <method> <score output> <expected metrics>: `cir eval score` prints
# "  name = value"; every number must match the eval report's row.
compare_scores() {
  local matched
  matched=$(jq -n -r --slurpfile report "$1" --arg method "$2" --rawfile score "$3" --arg expect "$4" '
    ([$report[0].results[] | select(.method == $method)][0].metrics // error("no row for \($method) in the report"))
      as $row
    | (reduce ($score | split("\n")[] | capture("^  (?<k>\\S+) = (?<v>\\S+)$")) as $c ({}; .[$c.k] = ($c.v | tonumber)))
      as $printed
    | ($expect | split(",")) as $expect
    | [$expect[] | select(. as $k | $printed | has($k) | not)] as $missing
    | if $missing != [] then error("cir eval score did not print \($missing | tojson): \($printed | tojson)") else . end
    | ($printed | to_entries[]
       | .key as $k
       | if ($row | has($k) | not) then error("score printed \($k), not in the report")
         elif ((.value - $row[$k]) | fabs) > 1e-4 * ([1.0, ($row[$k] | fabs)] | max)
         then error("\($k): score \(.value) != eval \($row[$k])")
         else empty end),
      [$expect[] | ., ($printed[.] | tostring)]
    | @tsv') || return 1
  echo "  score matches eval: $(printf '%s\n' "$matched" | format_g4 ', ')"
}

# run_eval <benchmark> <split> <n> [extra eval args...]
run_eval() {
  local bench="$1" split="$2" n="$3" root="$4"
  shift 4
  local out="$WORK/out-$bench"
  mkdir -p "$out"
  if ! "$CIR" eval --benchmark "$bench" --root "$root" --split "$split" --model "$MODEL" --method "$METHODS" \
      --max-queries "$n" --index "$out/idx" --report "$out/rep" --threads 2 "$@" > "$out/stdout" 2> "$out/stderr"; then
    cat "$out/stdout" "$out/stderr"
    fail "cir eval --benchmark $bench exited non-zero"
  fi
  for ext in md json svg; do [ -s "$out/rep.$ext" ] || fail "$bench: report $out/rep.$ext missing"; done
  # Progress goes to a log here (not a terminal): plain lines, no carriage returns.
  if grep -q $'\r' "$out/stderr"; then fail "$bench: progress wrote carriage returns to a non-terminal stderr"; fi
  grep -q "^eval sum: $n/$n done" "$out/stderr" || { cat "$out/stderr"; fail "$bench: no final 'eval sum' progress line"; }
  check_report "$out/rep.json" "$bench" "$METHODS" "$n" || fail "$bench: report"
}

# score_submission <benchmark> <root> <file> <expected metrics> <n>
score_submission() {
  local bench="$1" root="$2" file="$3" expect="$4" n="$5"
  local out="$WORK/out-$bench"
  "$CIR" eval score --benchmark "$bench" --root "$root" --split val --predictions "$file" --max-queries "$n" \
      > "$out/score.txt" 2>&1 || { cat "$out/score.txt"; fail "$bench: cir eval score $file"; }
  compare_scores "$out/rep.json" sum "$out/score.txt" "$expect" || fail "$bench: score of $file"
}

t0=$SECONDS

# CIRR val: submission (recall + recall_subset files), scored back.
R="$WORK/cirr"; mkdir -p "$R"
prepare cirr "$R" "$N" || fail "cirr: fake root"
run_eval cirr val "$N" "$R" --submission "$WORK/out-cirr/sub"
check_submission "$WORK/out-cirr/sub.sum.json" cirr "$N" recall || fail "cirr recall submission"
check_submission "$WORK/out-cirr/sub.sum.subset.json" cirr "$N" recall_subset ||
  fail "cirr recall_subset submission"
score_submission cirr "$R" "$WORK/out-cirr/sub.sum.json" recall@1,recall@5,recall@10,recall@50 "$N"
score_submission cirr "$R" "$WORK/out-cirr/sub.sum.subset.json" recall_subset@1,recall_subset@2,recall_subset@3 "$N"

# CIRCO val: the gallery is the image folder (no COCO image list here).
R="$WORK/circo"; mkdir -p "$R"
prepare circo "$R" "$N" || fail "circo: fake root"
run_eval circo val "$N" "$R" --submission "$WORK/out-circo/sub"
check_submission "$WORK/out-circo/sub.sum.json" circo "$N" circo || fail "circo submission"
score_submission circo "$R" "$WORK/out-circo/sub.sum.json" map@5,map@10,map@25,map@50,recall@5,recall@10,recall@25,recall@50 "$N"

# FashionIQ val, all three categories on one root (each its own index).
R="$WORK/fashioniq"; mkdir -p "$R"
prepare fashioniq "$R" "$N" || fail "fashioniq: fake root"
for cat in dress shirt toptee; do run_eval "fashioniq-$cat" val "$N" "$R"; done

# LaSCo val: the real corpus, a written query file.
R="$WORK/lasco"; mkdir -p "$R"
prepare lasco "$R" "$N" || fail "lasco: fake root"
run_eval lasco val "$N" "$R"

# Focus-CoIR (test): each query ranks its own 500 candidates; CLIP model.
R="$WORK/focus"; mkdir -p "$R"
prepare focus-coir "$R" "$N_FOCUS" || fail "focus-coir: fake root"
run_eval focus-coir test "$N_FOCUS" "$R"

# The unknown-benchmark message lists every name --benchmark takes, the shapes world's included.
if "$CIR" eval --benchmark nope --root "$WORK" --model "$MODEL" > "$WORK/nope.txt" 2>&1; then fail "--benchmark nope accepted"; fi
grep -q "shapes, shapes-captions" "$WORK/nope.txt" || fail "unknown benchmark message: $(cat "$WORK/nope.txt")"

echo "OK: cir eval ran cirr, circo, fashioniq-{dress,shirt,toptee}, lasco and focus-coir in $((SECONDS - t0)) s"
