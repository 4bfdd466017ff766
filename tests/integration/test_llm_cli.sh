#!/usr/bin/env bash
# The generative half through the `cir` CLI against a real OpenAI-compatible server (the npm
# inference-server on node-llama-cpp with our tiny random GGUF, tests/llm): gallery captioning
# killed with SIGKILL and resumed (no item lost or captioned twice), seize served from the cache
# on a rerun (zero requests, same ranking), SEARLE's phrase table through /v1/completions and its
# use in searle-oti and `train phi`, SPN4CIR's generated positives and `train spn --extra`, and a
# stopped server (a clear error naming the URL; a rerun after the restart completes).
#   test_llm_cli.sh CIR SOURCE_DIR
set -euo pipefail
CIR="$1"
SRC="$2"
MODEL="$SRC/models/shapes-clip"
if [ ! -d "$SRC/tests/llm/node_modules/inference-server" ] || ! command -v node >/dev/null; then
  echo "SKIP: the npm LLM test server is not installed (scripts/setup, or npm ci --prefix tests/llm --omit=optional --ignore-scripts)"
  exit 77
fi
WORK="$(mktemp -d)"
PORT=$((20000 + RANDOM % 20000))
cleanup() {
  bash "$SRC/tests/llm/llm_server.sh" stop "$WORK/llm" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
URL="$(bash "$SRC/tests/llm/llm_server.sh" start "$PORT" "$WORK/llm")"
LLM=(--llm "$URL" --llm-model tiny-llama)

"$CIR" synth --out "$WORK/world" --n-scenes 120 --seed 3 > /dev/null
"$CIR" index build --images "$WORK/world/images/train" --model "$MODEL" --out "$WORK/idx" --quiet > /dev/null
N_ITEMS=$(ls "$WORK/world/images/train" | wc -l)

# 1. `index caption` killed with SIGKILL mid-run, then resumed.
"$CIR" index caption "$WORK/idx" "${LLM[@]}" --n 3 --batch-size 4 --quiet > "$WORK/caption1.txt" 2>&1 &
pid=$!
# Kill once a few batches have committed (rows in captions.sqlite), well before the end.
caption_rows() {
  /usr/bin/python3 -c "import sqlite3,sys
try: print(sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True, timeout=1).execute('select count(*) from captions').fetchone()[0])
except Exception: print(0)" "$WORK/idx/captions.sqlite"
}
for _ in $(seq 1 600); do
  [ "$(caption_rows)" -ge 24 ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || fail "index caption finished before the kill; make the gallery larger"
wait "$pid" 2>/dev/null || true
"$CIR" index caption "$WORK/idx" "${LLM[@]}" --n 3 --batch-size 4 --quiet > "$WORK/caption2.txt"
line=$(grep '^captioner ' "$WORK/caption2.txt")
already=$(echo "$line" | sed -E 's/.* ([0-9]+) already captioned.*/\1/')
captioned=$(echo "$line" | sed -E 's/.*already captioned, ([0-9]+) captioned.*/\1/')
[ "$already" -gt 0 ] || fail "the killed run committed nothing: $line"
[ "$((already + captioned))" -eq "$N_ITEMS" ] || fail "resume: $already + $captioned != $N_ITEMS items: $line"
echo "$line" | grep -q ' 0 failed' || fail "captioning failures: $line"
grep -q '^provider: ' "$WORK/caption2.txt" || fail "index caption reports no provider usage"
"$CIR" index captions export "$WORK/idx" --out "$WORK/captions.json" > /dev/null
/usr/bin/python3 - "$WORK/captions.json" "$N_ITEMS" <<'EOF' || fail "the exported captions are incomplete"
import json, sys
entries = json.load(open(sys.argv[1]))
assert len(entries) == int(sys.argv[2]), (len(entries), sys.argv[2])
assert all(len(e["multi_caption_opt"]) == 3 for e in entries), "an item lacks captions"
EOF

# 2. seize at query time: the second run is answered by the cache (zero requests, same ranking).
REF="id:$(ls "$WORK/world/images/train" | head -1)"
"$CIR" search "$WORK/idx" --ref "$REF" --text "make the red circle blue" --method seize "${LLM[@]}" -k 5 \
  > "$WORK/seize1.txt" 2> "$WORK/seize1.err"
"$CIR" search "$WORK/idx" --ref "$REF" --text "make the red circle blue" --method seize "${LLM[@]}" -k 5 \
  > "$WORK/seize2.txt" 2> "$WORK/seize2.err"
grep -q 'provider: [1-9][0-9]* requests' "$WORK/seize1.err" || fail "the first seize search made no requests: $(cat "$WORK/seize1.err")"
grep -q 'provider: 0 requests' "$WORK/seize2.err" || fail "the rerun was not served from the cache: $(cat "$WORK/seize2.err")"
cmp -s "$WORK/seize1.txt" "$WORK/seize2.txt" || fail "the cached rerun ranks differently"
grep -q '  edit 14' "$WORK/seize1.txt" || fail "seize shows no edits: $(head -5 "$WORK/seize1.txt")"

# 3. SEARLE's phrase table, then L_gpt in searle-oti and in phi training.
printf 'red circle\nblue square\ngreen triangle\n' > "$WORK/concepts.txt"
"$CIR" train phrases "${LLM[@]}" --concepts "$WORK/concepts.txt" --out "$WORK/phrases.json" --n 3 --quiet > "$WORK/phrases.txt"
grep -q '3 of 3 concepts, 3 pass' "$WORK/phrases.txt" || fail "phrase table: $(cat "$WORK/phrases.txt")"
"$CIR" train phrases "${LLM[@]}" --concepts "$WORK/concepts.txt" --out "$WORK/phrases2.json" --n 3 \
  --llm-cache "$WORK/phrases.json.llm-cache.sqlite" --quiet > "$WORK/phrases2.txt"
grep -q 'provider: 0 requests' "$WORK/phrases2.txt" || fail "phrase rerun not from the cache: $(cat "$WORK/phrases2.txt")"
cmp -s "$WORK/phrases.json" "$WORK/phrases2.json" || fail "the cached phrase table differs"
"$CIR" search "$WORK/idx" --ref "$REF" --method searle-oti --method-opt "phrases=$WORK/phrases.json" \
  --method-opt oti_steps=5 -k 3 > "$WORK/oti.txt" || fail "searle-oti with phrases failed"
grep -q '^   1 ' "$WORK/oti.txt" || fail "searle-oti with phrases returned nothing: $(cat "$WORK/oti.txt")"
"$CIR" train phi --world "$WORK/world" --model "$MODEL" --out "$WORK/phi.pt" --phrases "$WORK/phrases.json" \
  --steps 4 --batch-size 8 --oti-steps 3 --max-images 16 --threads 2 > "$WORK/phi.txt" 2>/dev/null
grep -q 'L_gpt phrases from tiny-llama@' "$WORK/phi.txt" || fail "phi did not use the phrases: $(cat "$WORK/phi.txt")"
grep -q '"gpt_phrases_source": "tiny-llama@' "$WORK/phi.pt.gen.json" || fail "phi.pt.gen.json lacks the source"

# 4. SPN4CIR's generated positives from the server's captions, then stage 2 with them.
"$CIR" train spn-data --world "$WORK/world" --model "$MODEL" --out "$WORK/extend.json" "${LLM[@]}" --words 5 \
  --i2i-rank 1 --i2i-rank-max 10 --threads 2 > "$WORK/spn_data.txt" 2>/dev/null
grep -Eq 'wrote [1-9][0-9]* triplets' "$WORK/spn_data.txt" || fail "spn-data: $(cat "$WORK/spn_data.txt")"
"$CIR" train spn --world "$WORK/world" --model "$MODEL" --out "$WORK/spn" --extra "$WORK/extend.json" --steps 3 \
  --batch-size 8 --threads 2 > "$WORK/spn.txt" 2>/dev/null
grep -Eq 'sampled [1-9][0-9]* extra triplets' "$WORK/spn.txt" || fail "spn --extra: $(cat "$WORK/spn.txt")"

# 5. The server stops: an uncached query fails naming the URL; after a restart the rerun completes.
bash "$SRC/tests/llm/llm_server.sh" stop "$WORK/llm"
if "$CIR" search "$WORK/idx" --ref "$REF" --text "remove the square" --method seize "${LLM[@]}" -k 3 \
    > "$WORK/down.txt" 2>&1; then
  fail "a search needing the stopped server succeeded"
fi
grep -q "127.0.0.1:$PORT" "$WORK/down.txt" || fail "the error does not name the server: $(cat "$WORK/down.txt")"
bash "$SRC/tests/llm/llm_server.sh" start "$PORT" "$WORK/llm" > /dev/null
"$CIR" search "$WORK/idx" --ref "$REF" --text "remove the square" --method seize "${LLM[@]}" -k 3 > /dev/null 2>&1 ||
  fail "the rerun after the restart failed"
echo "test_llm_cli: all checks passed"
