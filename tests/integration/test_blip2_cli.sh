#!/usr/bin/env bash
# End-to-end test of BLIP-2 through the `cir` binary with the fixture model (both layouts):
# `cir index build --model <blip2>` stores 8 rows per image ([features | query_embeds]),
# `cir search --method ziracle / ziracle-image / text / image / sum` return ranked hits, CLIP-only
# methods refuse with a message, an HNSW index answers ZIRACLE through the approximate path
# (ANN candidates, exact rescoring; its top-10 overlap with --exact is printed), and
# `cir eval --benchmark focus-coir` re-ranks each query's candidates on a fake BDD100K root
# (written by cir_make_fake_root, the third argument). JSON is read with jq; no Python.
set -euo pipefail
CIR="$1"
SHARED="$2"
MAKE_FAKE_ROOT="${3:-}"
HF="$SHARED/fixtures/blip2/hf"
LAVIS="$SHARED/fixtures/blip2/lavis/blip2_pretrained.pth"
IMAGES="$SHARED/fixtures/clip/vit/images"
if [ ! -d "$HF" ] || [ ! -f "$LAVIS" ] || [ ! -d "$IMAGES" ]; then
  echo "SKIP: shared BLIP-2 fixtures are absent; place ../shared beside the checkout"
  exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
[ -n "$MAKE_FAKE_ROOT" ] && [ -x "$MAKE_FAKE_ROOT" ] ||
  fail "usage: $0 <cir> <shared> <cir_make_fake_root>; build the cir_make_fake_root target (got '$MAKE_FAKE_ROOT')"
command -v jq > /dev/null || fail "jq is needed to read the JSON outputs (scripts/setup installs it)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# json_field <file> <jq filter>: the value, raw (strings unquoted), compact.
json_field() { jq -r -c "$2" "$1"; }

# 1. Both layouts: build, inspect, search with every BLIP-2 method.
for layout in hf lavis; do
  model=$([ "$layout" = hf ] && echo "$HF" || echo "$LAVIS")
  idx="$WORK/idx-$layout"
  "$CIR" index build --images "$IMAGES" --model "$model" --out "$idx" --quiet > /dev/null
  "$CIR" index info "$idx" --json > "$WORK/info.json"
  [ "$(json_field "$WORK/info.json" .items)" = 10 ] || fail "$layout: expected 10 items"
  [ "$(json_field "$WORK/info.json" .vectors_per_item)" = 8 ] || fail "$layout: expected 8 vectors per item"
  [ "$(json_field "$WORK/info.json" .vectors)" = 80 ] || fail "$layout: expected 80 vectors"
  [ "$(json_field "$WORK/info.json" .model.family)" = blip2 ] || fail "$layout: family not blip2"
  [ "$(json_field "$WORK/info.json" '[.row_parts[].name]')" = '["features","query_embeds"]' ] ||
    fail "$layout: row_parts"
  for method in ziracle ziracle-image sum image text; do
    args=(--method "$method" -k 5 --json)
    [ "$method" != text ] && args+=(--ref id:b_300x200.jpg)
    [ "$method" != image ] && [ "$method" != ziracle-image ] && args+=(--text "White truck in front of the car")
    "$CIR" search "$idx" "${args[@]}" > "$WORK/hits.json" || fail "$layout: search --method $method failed"
    n=$(json_field "$WORK/hits.json" '.results | length')
    [ "$n" = 5 ] || fail "$layout: --method $method returned $n hits, expected 5"
  done
  "$CIR" search "$idx" --ref id:b_300x200.jpg --text "a truck" --method ziracle --method-opt text_tokens=mean -k 3 \
    > /dev/null || fail "$layout: text_tokens=mean"
done
# The two layouts hold the same model: ZIRACLE's top hit agrees.
top() { "$CIR" search "$WORK/idx-$1" --ref id:i_640x427.jpg --text "a dog" --method ziracle -k 1 --json |
  jq -r '.results[0].id'; }
[ "$(top hf)" = "$(top lavis)" ] || fail "HF and LAVIS layouts disagree on ZIRACLE's top hit"

# 2. Refusals: CLIP-only methods and ZIRACLE without its inputs exit non-zero with a message.
if "$CIR" search "$WORK/idx-hf" --ref id:b_300x200.jpg --text "a dog" --method searle > /dev/null 2> "$WORK/err.txt"; then
  fail "searle on a BLIP-2 index should fail"
fi
grep -qi 'clip' "$WORK/err.txt" || fail "searle refusal does not mention CLIP: $(cat "$WORK/err.txt")"
if "$CIR" search "$WORK/idx-hf" --ref id:b_300x200.jpg --method ziracle > /dev/null 2> "$WORK/err.txt"; then
  fail "ziracle without text should fail"
fi
grep -q 'needs a text' "$WORK/err.txt" || fail "ziracle refusal unclear: $(cat "$WORK/err.txt")"

# ZIRACLE on a CLIP index refuses, naming what it needs.
"$CIR" index build --images "$IMAGES" --model "$SHARED/fixtures/clip/vit/hf" --out "$WORK/idx-clip" --quiet > /dev/null
if "$CIR" search "$WORK/idx-clip" --ref id:b_300x200.jpg --text "a dog" --method ziracle > /dev/null 2> "$WORK/err.txt"; then
  fail "ziracle on a CLIP index should fail"
fi
grep -q 'BLIP-2' "$WORK/err.txt" || fail "ziracle refusal on CLIP unclear: $(cat "$WORK/err.txt")"
# A BLIP-2 model cannot query a CLIP index (and the other way round).
if "$CIR" search "$WORK/idx-clip" --text "a dog" --model "$HF" > /dev/null 2> "$WORK/err.txt"; then
  fail "a BLIP-2 model querying a CLIP index should fail"
fi

# 3. An HNSW index over a larger gallery: the approximate ZIRACLE path against --exact.
"$CIR" synth --out "$WORK/world" --seed 5 --n-scenes 700 > /dev/null
"$CIR" index build --images "$WORK/world/images" --model "$HF" --out "$WORK/hnsw" --index-key HNSW32 --quiet > /dev/null
total=0
found=0
for ref in $(ls "$WORK/world/images/test" | head -8); do
  for mode in approx exact; do
    extra=()
    [ "$mode" = exact ] && extra=(--exact)
    "$CIR" search "$WORK/hnsw" --ref "id:test/$ref" --text "a red circle" --method ziracle -k 10 --json "${extra[@]}" \
      > "$WORK/$mode.json"
  done
  # "<|set(approx ids) & set(exact ids)|> <number of exact ids>"
  hits=$(jq -n -r --slurpfile approx "$WORK/approx.json" --slurpfile exact "$WORK/exact.json" '
    ([$approx[0].results[].id] | unique) as $a | [$exact[0].results[].id] as $e
    | "\(($a - ($a - $e)) | length) \($e | length)"')
  found=$((found + ${hits% *}))
  total=$((total + ${hits#* }))
done
echo "ziracle approximate (HNSW32 candidates + exact rescoring) recall@10 vs exact: $found / $total"
[ "$total" -gt 0 ] && [ $((found * 10)) -ge $((total * 8)) ] || fail "approximate ZIRACLE recall@10 below 0.8 ($found / $total)"
"$CIR" index info "$WORK/hnsw" --recall -k 10 || fail "index info --recall on a BLIP-2 HNSW index"

# 4. Focus-CoIR on a fake BDD100K root: every query re-ranks its own candidates.
F="$WORK/focus"
# Images copied alternately into train/ and val/; queries.jsonl: 4 queries over the other images.
"$MAKE_FAKE_ROOT" focus-blip2 "$IMAGES" "$F" || fail "fake Focus-CoIR root"
"$CIR" eval --benchmark focus-coir --root "$F" --model "$HF" --method ziracle,ziracle-image,image,text \
  --index "$WORK/focus-index" --report "$WORK/report" > "$WORK/eval.txt" || fail "cir eval focus-coir"
cat "$WORK/eval.txt"
for metric in '"ap"' '"ap@20"' '"ap@20_standard"' '"p@20"' '"p@50"'; do
  grep -q "$metric" "$WORK/report.json" || fail "report lacks $metric"
done
for method in ziracle ziracle-image image text; do
  jq -e --arg method "$method" 'tojson | contains($method)' "$WORK/report.json" > /dev/null ||
    fail "report contents: $method"
done
echo "OK"
