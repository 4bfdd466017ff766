#!/usr/bin/env bash
# End-to-end test of `cir index` and `cir search` on generated images with the fixture CLIP:
# corrupt files skipped and listed, SIGKILL during build then resume (no duplicates), sync after
# add/change/delete, model-mismatch refusal, filters returning exactly k, and `index info --recall`
# (ANN recall from text and composed queries: exactly 1 on Flat, within [0, 1] on HNSW, and
# --ef changing the efSearch measured), list-built sync, FIFOs/symlinks/devices/over-long paths in
# a gallery, non-UTF-8 export, remove after a failed manifest write, and `index verify`.
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

# 1. Build, killed mid-way, then resumed. Progress is watched through vectors.bin's size, not
# `index info`: the building process holds the index's exclusive lock, so info cannot open it.
# The fixture model writes 32-d fp16 vectors: 64-byte file header, blocks of 32 + 8 x 64 bytes.
"$CIR" index build --images "$G" --model "$MODEL" --out "$WORK/idx" --batch-size 8 --threads 1 --quiet > /dev/null &
pid=$!
for _ in $(seq 1 1000); do
  # Past the first block: a second batch is being written, so the first one has committed.
  [ "$(stat -c %s "$WORK/idx/vectors.bin" 2>/dev/null || echo 0)" -gt $((64 + 32 + 8 * 64)) ] && break
  sleep 0.02
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
partial=$(count_items "$WORK/idx")
echo "killed with $partial of $n_images items committed"
[ "$partial" -lt "$n_images" ] || fail "the build finished before SIGKILL reached it: nothing to resume"
"$CIR" index build --images "$G" --model "$MODEL" --out "$WORK/idx" --batch-size 16 --quiet > "$WORK/resume.txt"
cat "$WORK/resume.txt"
total=$(count_items "$WORK/idx")
[ "$total" -eq "$n_images" ] || fail "after resume: $total items, expected $n_images"
grep -q "added $((n_images - partial)), updated 0, unchanged $partial," "$WORK/resume.txt" ||
  fail "the resume did not skip exactly the $partial committed items and add the other $((n_images - partial))"
[ "$(grep -c '"file"' "$WORK/idx/failures.jsonl")" -ge "$n_bad" ] || fail "failures.jsonl does not list the $n_bad bad files"
for bad in empty.jpg truncated.png garbage.png; do grep -q "$bad" "$WORK/idx/failures.jsonl" || fail "$bad not in failures.jsonl"; done
# No duplicates: every committed row names a distinct file.
"$CIR" index export "$WORK/idx" --out "$WORK/export_resume" > /dev/null
rows=$(grep -c '"image_path"' "$WORK/export_resume/metadata/metadata_0.jsonl")
distinct=$(sed 's/.*"image_path":"\([^"]*\)".*/\1/' "$WORK/export_resume/metadata/metadata_0.jsonl" | sort -u | wc -l)
[ "$rows" -eq "$n_images" ] && [ "$distinct" -eq "$n_images" ] || fail "after resume: $rows rows, $distinct distinct files, expected $n_images"

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

# 6. ANN honesty: `index info --recall` measures the ANN structure against exact search with text
# and composed queries (not the stored vectors). Flat is exact: recall exactly 1.
json_number() { sed -n "s/^ *\"$2\": \([-0-9.e+]*\),\{0,1\}\$/\1/p" "$1" | head -1; }
in_unit_range() { awk -v x="$1" 'BEGIN { exit !(x != "" && x >= 0 && x <= 1) }'; }
check_recall() {  # file, expected index type, "exact" or "range"
  local text composed n_text n_composed
  text=$(json_number "$1" text_recall)
  composed=$(json_number "$1" composed_recall)
  n_text=$(json_number "$1" text_queries)
  n_composed=$(json_number "$1" composed_queries)
  echo "recall@10 on $2: text $text ($n_text queries), composed $composed ($n_composed queries)"
  grep -q "\"index_type\": \"$2\"" "$1" || fail "recall not measured on $2: $(cat "$1")"
  [ "${n_text:-0}" -gt 0 ] && [ "${n_composed:-0}" -gt 0 ] || fail "recall on $2 used no text or no composed queries"
  in_unit_range "$text" && in_unit_range "$composed" || fail "recall on $2 outside [0, 1]: text '$text', composed '$composed'"
  if [ "$3" = exact ]; then
    awk -v t="$text" -v c="$composed" 'BEGIN { exit !(t == 1 && c == 1) }' || fail "Flat recall is not exactly 1"
  fi
}
"$CIR" index info "$WORK/idx" --recall --json > "$WORK/recall_flat.json"
check_recall "$WORK/recall_flat.json" Flat exact

# HNSW over a few thousand vectors: a small image gallery, plus 3072 caption embeddings of the
# same model imported in clip-retrieval's layout; queries are texts absent from the gallery.
G2="$WORK/gallery2"
mkdir -p "$G2"
cp $(ls "$WORK"/world/images/train/*.png | head -24) "$G2/"
"$CIR" index build --images "$G2" --model "$MODEL" --out "$WORK/hnsw" --index-key HNSW16 --memory-budget 512MB \
  --quiet > /dev/null
grep -q '"memory_budget_bytes": 536870912' "$WORK/hnsw/manifest.json" || fail "--memory-budget 512MB not recorded"
if "$CIR" index build --images "$G2" --model "$MODEL" --out "$WORK/bad-budget" --memory-budget 12parsecs \
  > /dev/null 2>&1; then fail "--memory-budget 12parsecs accepted"; fi
for color in red green blue yellow purple orange black white; do
  for shape in circle square triangle star hexagon cross; do
    for place in left right top bottom centre corner edge middle; do
      for size in tiny small medium large huge wide tall thin; do echo "a $size $color $shape at the $place"; done
    done
  done
done > "$WORK/captions.txt"
mkdir -p "$WORK/captions/img_emb"
"$CIR" embed --model "$MODEL" --texts-file "$WORK/captions.txt" --normalize --out "$WORK/captions/img_emb/img_emb_0.npy" 2> /dev/null
"$CIR" index import "$WORK/hnsw" --from "$WORK/captions" > /dev/null
n_hnsw=$(count_items "$WORK/hnsw")
[ "$n_hnsw" -ge 3000 ] || fail "HNSW index holds $n_hnsw items, expected 24 + 3072"
printf '%s\n' "two red circles" "a green square on the left" "something blue" "a big yellow star" \
  "a purple hexagon next to a cross" "an orange shape at the top" > "$WORK/recall_queries.txt"
"$CIR" index info "$WORK/hnsw" --recall --queries "$WORK/recall_queries.txt" --json > "$WORK/recall_hnsw.json"
check_recall "$WORK/recall_hnsw.json" HNSW16 range
# --ef sets the efSearch being measured: a wide beam finds at least what a narrow one does.
"$CIR" index info "$WORK/hnsw" --recall --queries "$WORK/recall_queries.txt" --ef 10 --json > "$WORK/recall_ef10.json"
"$CIR" index info "$WORK/hnsw" --recall --queries "$WORK/recall_queries.txt" --ef 512 --json > "$WORK/recall_ef512.json"
grep -q '"ef_search": 512' "$WORK/recall_ef512.json" || fail "--ef 512 not reported"
r10=$(json_number "$WORK/recall_ef10.json" composed_recall)
r512=$(json_number "$WORK/recall_ef512.json" composed_recall)
echo "HNSW16 composed recall@10: efSearch 10 -> $r10, 512 -> $r512"
awk -v a="$r10" -v b="$r512" 'BEGIN { exit !(b >= a && b >= 0.99) }' || fail "efSearch 512 recall $r512 (efSearch 10: $r10)"
"$CIR" search "$WORK/hnsw" --text "a red circle" --ef 128 -k 3 > /dev/null || fail "search --ef"
if "$CIR" search "$WORK/hnsw" --text "a red circle" --ef -1 > /dev/null 2>&1; then fail "search --ef -1 accepted"; fi
# One value per --text: the index after it is the index, a second word is an arithmetic term shown
# in the query echo (it was averaged in silently as a second text).
"$CIR" search --text "a red circle" "$WORK/hnsw" -k 2 > "$WORK/text_first.txt" || fail "--text before the index failed"
grep -q 'text "a red circle"' "$WORK/text_first.txt" || fail "--text before the index: $(head -1 "$WORK/text_first.txt")"
"$CIR" search "$WORK/hnsw" --text red circle -k 2 > "$WORK/text_two.txt" || fail "--text red circle failed"
head -1 "$WORK/text_two.txt" | grep -q 'text "red", + 1 x "circle"' ||
  fail "a word after --text is not shown as a term: $(head -1 "$WORK/text_two.txt")"
# "N:word" is a weight, "12:30 meeting" is a text.
"$CIR" search "$WORK/hnsw" "12:30 meeting" -k 1 > "$WORK/clock.txt" || fail "a text with a clock time failed"
head -1 "$WORK/clock.txt" | grep -q 'text "12:30 meeting"' || fail "12:30 read as a weight: $(head -1 "$WORK/clock.txt")"
"$CIR" search "$WORK/hnsw" "2:red" -k 1 > "$WORK/weighted.txt" || fail "2:red failed"
head -1 "$WORK/weighted.txt" | grep -q 'text "red", weights 1,2' || fail "2:red: $(head -1 "$WORK/weighted.txt")"
# Usage errors (exit 2), never a silent reading: trailing garbage in --weights, a port past 65535.
set +e
"$CIR" search "$WORK/hnsw" --text "a red circle" --weights 1,1,abc > "$WORK/weights.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--weights 1,1,abc: exit $rc, expected 2: $(cat "$WORK/weights.txt")"
grep -q "1,1,abc" "$WORK/weights.txt" || fail "--weights error does not quote the value: $(cat "$WORK/weights.txt")"
set +e
timeout 20 "$CIR" serve --index "x=$WORK/hnsw" --port 70000 > "$WORK/port.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "serve --port 70000: exit $rc, expected 2: $(cat "$WORK/port.txt")"
# 7. Sync of a list-built index re-reads the list: entries outside the list's directory stay, other
# images of that directory are not pulled in; a vanished list is refused, never replaced by a scan.
L="$WORK/listdir"
mkdir -p "$L" "$WORK/outside"
cp $(ls "$WORK"/world/images/train/*.png | head -12) "$L/"
cp "$(ls "$WORK"/world/images/train/*.png | sed -n 13p)" "$WORK/outside/far.png"
first=$(ls "$L" | head -1)
second=$(ls "$L" | sed -n 2p)
printf '%s\n%s\n../outside/far.png\n' "$first" "$second" > "$L/list.txt"
"$CIR" index build --images "$L/list.txt" --model "$MODEL" --out "$WORK/listidx" --quiet > /dev/null
[ "$(count_items "$WORK/listidx")" -eq 3 ] || fail "list build: $(count_items "$WORK/listidx") items, expected 3"
"$CIR" index sync "$WORK/listidx" --quiet > "$WORK/listsync.txt"
cat "$WORK/listsync.txt"
grep -q "added 0, updated 0, unchanged 3, removed 0," "$WORK/listsync.txt" || fail "sync of a list-built index did not re-read the list"
[ "$(count_items "$WORK/listidx")" -eq 3 ] || fail "list sync: $(count_items "$WORK/listidx") items, expected 3"
printf '%s\n../outside/far.png\n' "$first" > "$L/list.txt"
"$CIR" index sync "$WORK/listidx" --quiet > "$WORK/listsync2.txt"
grep -q "removed 1," "$WORK/listsync2.txt" || fail "an entry dropped from the list was not removed: $(cat "$WORK/listsync2.txt")"
rm "$L/list.txt"
if "$CIR" index sync "$WORK/listidx" --quiet > "$WORK/listsync3.txt" 2>&1; then fail "sync without its list file succeeded"; fi
grep -q "list" "$WORK/listsync3.txt" || fail "sync without its list: unclear message: $(cat "$WORK/listsync3.txt")"
[ "$(count_items "$WORK/listidx")" -eq 2 ] || fail "a refused sync changed the index"

# 8. Special files never hang a build and are listed in failures.jsonl; a symlink out of the
# gallery never copies the target's first bytes into it. Every command runs under a timeout: a
# regression fails here instead of hanging the suite.
G3="$WORK/gallery3"
mkdir -p "$G3"
cp $(ls "$WORK"/world/images/train/*.png | head -2) "$G3/"
mkfifo "$G3/fifo.png"
ln -s "$G3/nowhere.png" "$G3/dangling.png"
ln -s "$G3/loop2.png" "$G3/loop1.png"
ln -s "$G3/loop1.png" "$G3/loop2.png"
ln -s /dev/zero "$G3/device.png"
printf 'root:*:2secret-first-bytes\n' > "$WORK/outside/shadow"
ln -s "$WORK/outside/shadow" "$G3/shadow.png"
long_name=$(printf 'd%.0s' $(seq 1 250))
(cd "$G3" && for _ in $(seq 1 17); do mkdir "$long_name" && cd "$long_name"; done && : > x.png)  # a path past 4096 bytes
timeout 300 "$CIR" index build --images "$G3" --model "$MODEL" --out "$WORK/special" --quiet > "$WORK/special.txt" ||
  fail "build over special files failed or hung (rc $?)"
[ "$(count_items "$WORK/special")" -eq 2 ] || fail "special gallery: $(count_items "$WORK/special") items, expected 2"
F="$WORK/special/failures.jsonl"
grep 'fifo.png' "$F" | grep -q FIFO || fail "the FIFO is not listed in failures.jsonl: $(cat "$F")"
grep 'dangling.png' "$F" | grep -q dangling || fail "the dangling symlink is not listed"
grep 'loop1.png' "$F" | grep -q loop || fail "the symlink loop is not listed"
grep 'device.png' "$F" | grep -q "character device" || fail "the device link is not listed"
grep -q 'shadow.png' "$F" || fail "the symlink out of the gallery is not listed"
grep -q 'longer than the system limit' "$F" || fail "the over-long path is not listed"
if grep -q -e 'secret' -e 'root:' -e '726f6f74' "$F"; then fail "failures.jsonl quotes a file outside the gallery: $(grep shadow "$F")"; fi
printf '%s\nfifo.png\ndevice.png\n' "$(ls "$G3" | grep -v -e fifo -e dangling -e loop -e device -e shadow -e '^d' | head -1)" > "$G3/list.txt"
timeout 300 "$CIR" index build --images "$G3/list.txt" --model "$MODEL" --out "$WORK/speciallist" --quiet > /dev/null ||
  fail "a list naming a FIFO failed or hung (rc $?)"
grep 'fifo.png' "$WORK/speciallist/failures.jsonl" | grep -q FIFO || fail "the listed FIFO is not in failures.jsonl"
if timeout 120 "$CIR" embed --model "$MODEL" --images "$G3/fifo.png" --out "$WORK/fifo.npy" > "$WORK/embed_fifo.txt" 2>&1; then
  fail "cir embed accepted a FIFO"
fi
grep -q "FIFO" "$WORK/embed_fifo.txt" || fail "cir embed on a FIFO: $(cat "$WORK/embed_fifo.txt")"
if timeout 120 "$CIR" search "$WORK/special" --ref "$G3/fifo.png" --text red > "$WORK/ref_fifo.txt" 2>&1; then
  fail "cir search accepted a FIFO --ref"
fi
grep -q "FIFO" "$WORK/ref_fifo.txt" || fail "cir search --ref FIFO: $(cat "$WORK/ref_fifo.txt")"
# The other named-file readers: a phi checkpoint (torch.save zip) and a captions JSON to import.
if timeout 120 "$CIR" search "$WORK/special" --ref "$G3/$(ls "$G3" | grep '\.png$' | grep -v -e fifo -e dangling -e loop -e device -e shadow | head -1)" \
    --text red --method searle --method-opt "phi=$G3/fifo.png" > "$WORK/phi_fifo.txt" 2>&1; then
  fail "a FIFO as the phi checkpoint was accepted"
fi
grep -q "FIFO" "$WORK/phi_fifo.txt" || fail "phi=FIFO: $(cat "$WORK/phi_fifo.txt")"
if timeout 120 "$CIR" index captions import "$WORK/special" --from "$G3/fifo.png" > "$WORK/captions_fifo.txt" 2>&1; then
  fail "a FIFO as a captions file was accepted"
fi
grep -q "FIFO" "$WORK/captions_fifo.txt" || fail "captions import from a FIFO: $(cat "$WORK/captions_fifo.txt")"
for part in config.json model.safetensors; do
  M="$WORK/model-$part"
  mkdir -p "$M"
  for f in "$MODEL"/*; do [ "$(basename "$f")" = "$part" ] || ln -s "$f" "$M/"; done
  mkfifo "$M/$part"
  printf 'red\n' > "$WORK/one_text.txt"
  if timeout 120 "$CIR" embed --model "$M" --texts-file "$WORK/one_text.txt" --out "$WORK/m.npy" > "$WORK/model_fifo.txt" 2>&1; then
    fail "a FIFO as $part was accepted"
  fi
  grep -q "$part" "$WORK/model_fifo.txt" || fail "a FIFO as $part: the message does not name it: $(cat "$WORK/model_fifo.txt")"
done

# 9. Export of an id that is not UTF-8 (a Latin-1 file name): escaped, not an abort.
G4="$WORK/gallery4"
mkdir -p "$G4"
cp "$L/$first" "$G4/caf$(printf '\351').png"
"$CIR" index build --images "$G4" --model "$MODEL" --out "$WORK/latin1" --quiet > /dev/null
"$CIR" index export "$WORK/latin1" --out "$WORK/latin1_export" > /dev/null || fail "export of a non-UTF-8 id failed"
grep -q '"image_path":"caf%E9.png"' "$WORK/latin1_export/metadata/metadata_0.jsonl" ||
  fail "non-UTF-8 id not escaped: $(cat "$WORK/latin1_export/metadata/metadata_0.jsonl")"

# 10. remove: the removal committed, a later manifest write failing (here: its temp name is taken
# by a directory) is a warning, exit 0. `exec` keeps the pid that names the temp file.
before=$(count_items "$WORK/idx")
bash -c 'mkdir "$1/manifest.json.tmp.$$" && exec "$2" index remove "$1" "$3"' _ "$WORK/idx" "$CIR" "$ref" \
  > "$WORK/remove.txt" 2> "$WORK/remove_err.txt" || fail "remove exited non-zero after committing: $(cat "$WORK/remove_err.txt")"
grep -q "warning: the removal is committed" "$WORK/remove_err.txt" || fail "remove did not warn: $(cat "$WORK/remove_err.txt")"
rmdir "$WORK"/idx/manifest.json.tmp.*
[ "$(count_items "$WORK/idx")" -eq $((before - 1)) ] || fail "remove did not remove"

# 11. verify: ok on a sound index; after row 0 of block 0 (not the last block, which open checks)
# is set to +inf, verify exits 1 naming the block and its byte, and searches never print a null
# score. The fixture model stores 32-d fp16 rows (64 bytes); block 0's payload starts at byte 96.
"$CIR" index verify "$WORK/idx" > "$WORK/verify_ok.txt" || fail "verify of a sound index: $(cat "$WORK/verify_ok.txt")"
grep -q ": ok" "$WORK/verify_ok.txt" || fail "verify did not say ok"
printf '\000\174%.0s' $(seq 1 32) | dd of="$WORK/idx/vectors.bin" bs=1 seek=96 conv=notrunc status=none
if "$CIR" index verify "$WORK/idx" > "$WORK/verify_bad.txt" 2>&1; then fail "verify passed a damaged block"; fi
cat "$WORK/verify_bad.txt"
grep -q "block 0 at byte 64" "$WORK/verify_bad.txt" || fail "verify does not name block 0 at byte 64"
grep -q "checksum mismatch" "$WORK/verify_bad.txt" || fail "verify does not report the checksum"
"$CIR" search "$WORK/idx" --text "a red circle" -k 1000 --json > "$WORK/after_inf.json" || fail "search after damage failed"
[ "$(grep -c '"rank"' "$WORK/after_inf.json")" -gt 100 ] || fail "search after damage returned too little"
if grep -q "\"score\": *null" "$WORK/after_inf.json"; then fail "a search printed a null score"; fi

echo "1 passed, 0 failed"
