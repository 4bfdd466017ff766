#!/usr/bin/env bash
# End-to-end test of `cir index` and `cir search` on generated images with the fixture CLIP:
# corrupt files skipped and listed, SIGKILL during build then resume (no duplicates), sync after
# add/change/delete, model-mismatch refusal, filters returning exactly k.
set -euo pipefail
CIR="$1"
SHARED="$2"
MODEL="$SHARED/fixtures/clip/vit/hf"
if [ ! -d "$MODEL" ]; then
  echo "SKIP: shared fixture '$MODEL' is absent; place ../shared beside the checkout"
  exit 77
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
count_items() { "$CIR" index info "$1" --json | sed -n 's/^  "items": \([0-9]*\),/\1/p'; }

# A gallery: 300 rendered scenes, plus sidecar metadata, plus bad files.
"$CIR" synth --out "$WORK/world" --seed 3 --n-scenes 400 > /dev/null
G="$WORK/gallery"
mkdir -p "$G/sub"
cp "$WORK"/world/images/test/*.png "$G/"
cp "$WORK"/world/images/val/*.png "$G/sub/"
n_images=$(find "$G" -name '*.png' | wc -l)
i=0
for f in "$G"/*.png; do
  i=$((i + 1))
  color=$([ $((i % 2)) -eq 0 ] && echo red || echo blue)
  printf '{"color": "%s", "n": %d}\n' "$color" "$i" > "${f%.png}.json"
done
: > "$G/empty.jpg"
head -c 300 "$(ls "$G"/*.png | head -1)" > "$G/truncated.png"
echo "not an image" > "$G/garbage.png"
n_bad=3

# 1. Build, killed mid-way, then resumed.
"$CIR" index build --images "$G" --model "$MODEL" --out "$WORK/idx" --batch-size 8 --quiet &
pid=$!
for _ in $(seq 1 200); do
  [ -f "$WORK/idx/items.sqlite" ] && [ "$(count_items "$WORK/idx" 2>/dev/null || echo 0)" -gt 16 ] && break
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
partial=$(count_items "$WORK/idx")
echo "killed with $partial items committed"
"$CIR" index build --images "$G" --model "$MODEL" --out "$WORK/idx" --batch-size 16 --quiet > "$WORK/resume.txt"
cat "$WORK/resume.txt"
total=$(count_items "$WORK/idx")
[ "$total" -eq "$n_images" ] || fail "after resume: $total items, expected $n_images"
grep -q "unchanged" "$WORK/resume.txt" || fail "resume report lacks the unchanged count"
[ "$(grep -c '"file"' "$WORK/idx/failures.jsonl")" -ge "$n_bad" ] || fail "failures.jsonl does not list the $n_bad bad files"
for bad in empty.jpg truncated.png garbage.png; do grep -q "$bad" "$WORK/idx/failures.jsonl" || fail "$bad not in failures.jsonl"; done

# 2. Search: a gallery reference is excluded; filters give exactly k.
ref=$(ls "$G" | grep png | grep -v -e truncated -e garbage | head -1)
"$CIR" search "$WORK/idx" --ref "id:$ref" --text "a red circle" -k 5 --json > "$WORK/s.json"
[ "$(grep -c '"rank"' "$WORK/s.json")" -eq 5 ] || fail "search did not return 5 results"
grep -q "\"id\": \"$ref\"" "$WORK/s.json" && fail "the reference came back as a result"
"$CIR" search "$WORK/idx" --text "a red circle" -k 7 --filter "color=red" --json > "$WORK/f.json"
[ "$(grep -c '"rank"' "$WORK/f.json")" -eq 7 ] || fail "filtered search did not return exactly 7"
grep -q '"color": "blue"' "$WORK/f.json" && fail "filter let a blue item through"
"$CIR" search "$WORK/idx" "$G/$ref" + "2:red" - "square" -k 3 > /dev/null || fail "arithmetic query failed"

# 3. Sync after adding, changing and deleting files.
cp "$WORK/world/images/train/$(ls "$WORK/world/images/train" | head -1)" "$G/new_one.png"
victim=$(ls "$G"/*.png | grep -v -e truncated -e garbage -e new_one | tail -1)
rm "$victim"
changed=$(ls "$G"/*.png | grep -v -e truncated -e garbage -e new_one | head -2 | tail -1)
cp "$WORK/world/images/train/$(ls "$WORK/world/images/train" | sed -n 5p)" "$changed"
"$CIR" index sync "$WORK/idx" --quiet > "$WORK/sync.txt"
cat "$WORK/sync.txt"
grep -q "added 1," "$WORK/sync.txt" || fail "sync did not add the new file"
grep -q "updated 1," "$WORK/sync.txt" || fail "sync did not re-encode the changed file"
grep -q "removed 1," "$WORK/sync.txt" || fail "sync did not remove the deleted file"
[ "$(count_items "$WORK/idx")" -eq "$n_images" ] || fail "count after sync"

# 4. A different model is refused.
if "$CIR" search "$WORK/idx" --text "red" --model "$SHARED/fixtures/clip/rn/openai" > "$WORK/mm.txt" 2>&1; then
  fail "a mismatched model was accepted"
fi
grep -qi "model" "$WORK/mm.txt" || fail "mismatch message does not mention the model: $(cat "$WORK/mm.txt")"

# 5. Info, export.
"$CIR" index info "$WORK/idx" > /dev/null
"$CIR" index export "$WORK/idx" --out "$WORK/export" > /dev/null
[ -f "$WORK/export/img_emb/img_emb_0.npy" ] || fail "export wrote no img_emb_0.npy"
echo "1 passed, 0 failed"
