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
# run uses the real val corpus with a small query file written here in the repository's format.
set -euo pipefail
CIR="$(realpath "$1")"
SHARED="$2"
BENCH="$SHARED/benchmarks"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODEL="$REPO/models/shapes-clip"
PY=/usr/bin/python3
if [ ! -d "$BENCH" ]; then
  echo "SKIP: '$BENCH' is absent; place ../shared (with benchmarks/) beside the checkout"
  exit 77
fi
if [ ! -d "$MODEL" ]; then
  echo "SKIP: model '$MODEL' is absent"
  exit 77
fi
if ! "$PY" -c 'import PIL, numpy' 2>/dev/null; then
  echo "SKIP: $PY with Pillow and numpy is needed to write the placeholder images"
  exit 77
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
N=20          # queries per benchmark
N_FOCUS=3     # Focus-CoIR queries carry 500 candidates each
METHODS=image,text,sum
export XDG_CACHE_HOME="$WORK/cache"  # nothing lands in the user's cache

# Builds <root> for one benchmark: symlinked annotations and placeholder images.
cat > "$WORK/prepare.py" <<'EOF'
import hashlib, json, os, sys
from PIL import Image, ImageDraw

bench, root, shared, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def link(src, dst):
    dst = os.path.join(root, dst)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(os.path.join(shared, src), dst)

def write_images(paths):
    paths = sorted(set(paths))
    for rel in paths:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        h = hashlib.sha256(rel.encode()).digest()
        img = Image.new("RGB", (32, 32), tuple(h[0:3]))
        x, y = h[3] % 20, h[4] % 20
        ImageDraw.Draw(img).rectangle([x, y, x + 4 + h[5] % 10, y + 4 + h[6] % 10], fill=tuple(h[7:10]))
        img.save(path, "JPEG" if rel.endswith(".jpg") else "PNG")
    print(f"{bench}: {len(paths)} placeholder images")

def load(rel):
    with open(os.path.join(shared, rel)) as f:
        return json.load(f)

if bench == "cirr":
    link("cirr", "cirr")
    split = load("cirr/image_splits/split.rc2.val.json")
    queries = load("cirr/captions/cap.rc2.val.json")[:n]
    names = [q["reference"] for q in queries] + [q["target_hard"] for q in queries]
    names += [m for q in queries for m in q["img_set"]["members"]] + list(split)[:60]
    write_images(split[name][2:] for name in names)  # "./dev/....png"
elif bench == "circo":
    link("circo/annotations", "annotations")
    queries = load("circo/annotations/val.json")
    ids = [q["reference_img_id"] for q in queries[:n]] + [g for q in queries[:n] for g in q["gt_img_ids"]]
    ids += [g for q in queries[n:n + 10] for g in q["gt_img_ids"]]  # distractors
    write_images("COCO2017_unlabeled/unlabeled2017/%012d.jpg" % i for i in ids)
elif bench == "fashioniq":
    link("fashioniq/captions", "captions")
    link("fashioniq/image_splits", "image_splits")
    asins = []
    for cat in ("dress", "shirt", "toptee"):
        triplets = load(f"fashioniq/captions/cap.{cat}.val.json")[:n]
        asins += [t["candidate"] for t in triplets] + [t["target"] for t in triplets]
        asins += load(f"fashioniq/image_splits/split.{cat}.val.json")[:30]
    write_images(f"images/{a}.png" for a in asins)
elif bench == "lasco":
    link("lasco/downloads/lasco_val_corpus.json", "downloads/lasco_val_corpus.json")
    corpus = load("lasco/downloads/lasco_val_corpus.json")
    texts = ["the same scene at night", "with a dog instead of a cat", "seen from above", "in black and white"]
    picks = corpus[::997][: 2 * n]
    queries = []
    for i in range(n):
        ref, tgt = picks[2 * i], picks[2 * i + 1]
        queries.append({"qid": 1000 + i, "query-text": texts[i % len(texts)],
                        "query-image": [ref["id"], ref["path"][len("val/"):]],
                        "target-image": [tgt["id"], tgt["path"][len("val/"):]]})
    with open(os.path.join(root, "downloads/lasco_val.json"), "w") as f:
        json.dump(queries, f)
    write_images([c["path"] for c in picks] + [c["path"] for c in corpus[5::1499][:40]])
elif bench == "focus-coir":
    link("focus_coir/data/focus_coir/queries.jsonl", "queries.jsonl")
    with open(os.path.join(shared, "focus_coir/data/focus_coir/queries.jsonl")) as f:
        queries = [json.loads(line) for line in f if line.strip()][:n]
    names = [q["query_img"] for q in queries] + [c for q in queries for c, _ in q["labels"]]
    write_images(f"bdd100k/images/100k/train/{name}" for name in names)
else:
    sys.exit(f"unknown benchmark {bench}")
EOF

# Checks <report>.json: one row per method, the official metric names, values in the unit's range.
cat > "$WORK/check_report.py" <<'EOF'
import json, sys
path, bench, methods, n = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
expected = {
    "cirr": (["recall@1", "recall@5", "recall@10", "recall@50", "recall_subset@1", "recall_subset@2",
              "recall_subset@3", "avg"], "percent"),
    "circo": (["map@5", "map@10", "map@25", "map@50", "recall@5", "recall@10", "recall@25", "recall@50"], "percent"),
    "fashioniq": (["recall@10", "recall@50"], "percent"),
    "lasco": (["recall@1", "recall@5", "recall@10", "recall@50", "recall@100", "recall@500"], "percent"),
    "focus-coir": (["ap", "ap@20", "ap@20_standard", "p@20", "p@50"], "fraction"),
}
names, unit = expected["fashioniq" if bench.startswith("fashioniq") else bench]
run = json.load(open(path))
errors = []
if run["benchmark"] != bench: errors.append(f"benchmark {run['benchmark']!r}")
if run["n_queries"] != n: errors.append(f"n_queries {run['n_queries']} != {n}")
rows = run["results"]
if [r["method"] for r in rows] != methods: errors.append(f"methods {[r['method'] for r in rows]}")
top = 100.0 if unit == "percent" else 1.0
for r in rows:
    m = r["metrics"]
    if r["unit"] != unit: errors.append(f"{r['method']}: unit {r['unit']!r} != {unit!r}")
    missing = [k for k in names if k not in m]
    if missing: errors.append(f"{r['method']}: missing {missing} (has {list(m)})")
    if bench == "circo" and not any(k.startswith("semantic_map@10/") for k in m):
        errors.append(f"{r['method']}: no semantic_map@10/<aspect>")
    for k, v in m.items():
        if not (0.0 <= v <= top): errors.append(f"{r['method']}: {k} = {v} outside [0, {top}]")
    print(f"  {bench} {r['method']:6s}", "  ".join(f"{k}={m[k]:.4g}" for k in names))
if errors:
    sys.exit("report check failed: " + "; ".join(errors))
EOF

# Checks a submission's server format; prints nothing on success.
cat > "$WORK/check_submission.py" <<'EOF'
import json, sys
path, bench, n, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sub = json.load(open(path))
length = {"recall": 50, "recall_subset": 3, "circo": 50}[kind]
if bench == "cirr":
    assert sub.pop("version") == "rc2", "version"
    assert sub.pop("metric") == kind, "metric"
assert len(sub) == n, f"{len(sub)} queries, expected {n}"
for key, ids in sub.items():
    assert key.isdigit(), f"key {key!r}"
    assert len(ids) == length, f"query {key}: {len(ids)} ids, expected {length}"
    assert len(set(ids)) == len(ids), f"query {key}: duplicate ids"
    kinds = {type(i) for i in ids}
    assert kinds == ({int} if bench == "circo" else {str}), f"query {key}: id types {kinds}"
EOF

# `cir eval score` prints "  name = value"; every number must match the eval report's row.
cat > "$WORK/compare_scores.py" <<'EOF'
import json, re, sys
report, method, score_out, expect = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
row = next(r for r in json.load(open(report))["results"] if r["method"] == method)["metrics"]
printed = dict((m.group(1), float(m.group(2)))
               for m in re.finditer(r"^  (\S+) = (\S+)$", open(score_out).read(), re.M))
missing = [k for k in expect if k not in printed]
assert not missing, f"cir eval score did not print {missing}: {printed}"
for k, v in printed.items():
    assert k in row, f"score printed {k}, not in the report"
    assert abs(v - row[k]) <= 1e-4 * max(1.0, abs(row[k])), f"{k}: score {v} != eval {row[k]}"
print("  score matches eval:", ", ".join(f"{k}={printed[k]:.4g}" for k in expect))
EOF

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
  "$PY" "$WORK/check_report.py" "$out/rep.json" "$bench" "$METHODS" "$n" || fail "$bench: report"
}

# score_submission <benchmark> <root> <file> <expected metrics> <n>
score_submission() {
  local bench="$1" root="$2" file="$3" expect="$4" n="$5"
  local out="$WORK/out-$bench"
  "$CIR" eval score --benchmark "$bench" --root "$root" --split val --predictions "$file" --max-queries "$n" \
      > "$out/score.txt" 2>&1 || { cat "$out/score.txt"; fail "$bench: cir eval score $file"; }
  "$PY" "$WORK/compare_scores.py" "$out/rep.json" sum "$out/score.txt" "$expect" || fail "$bench: score of $file"
}

t0=$SECONDS

# CIRR val: submission (recall + recall_subset files), scored back.
R="$WORK/cirr"; mkdir -p "$R"
"$PY" "$WORK/prepare.py" cirr "$R" "$BENCH" "$N"
run_eval cirr val "$N" "$R" --submission "$WORK/out-cirr/sub"
"$PY" "$WORK/check_submission.py" "$WORK/out-cirr/sub.sum.json" cirr "$N" recall || fail "cirr recall submission"
"$PY" "$WORK/check_submission.py" "$WORK/out-cirr/sub.sum.subset.json" cirr "$N" recall_subset ||
  fail "cirr recall_subset submission"
score_submission cirr "$R" "$WORK/out-cirr/sub.sum.json" recall@1,recall@5,recall@10,recall@50 "$N"
score_submission cirr "$R" "$WORK/out-cirr/sub.sum.subset.json" recall_subset@1,recall_subset@2,recall_subset@3 "$N"

# CIRCO val: the gallery is the image folder (no COCO image list here).
R="$WORK/circo"; mkdir -p "$R"
"$PY" "$WORK/prepare.py" circo "$R" "$BENCH" "$N"
run_eval circo val "$N" "$R" --submission "$WORK/out-circo/sub"
"$PY" "$WORK/check_submission.py" "$WORK/out-circo/sub.sum.json" circo "$N" circo || fail "circo submission"
score_submission circo "$R" "$WORK/out-circo/sub.sum.json" map@5,map@10,map@25,map@50,recall@5,recall@10,recall@25,recall@50 "$N"

# FashionIQ val, all three categories on one root (each its own index).
R="$WORK/fashioniq"; mkdir -p "$R"
"$PY" "$WORK/prepare.py" fashioniq "$R" "$BENCH" "$N"
for cat in dress shirt toptee; do run_eval "fashioniq-$cat" val "$N" "$R"; done

# LaSCo val: the real corpus, a written query file.
R="$WORK/lasco"; mkdir -p "$R"
"$PY" "$WORK/prepare.py" lasco "$R" "$BENCH" "$N"
run_eval lasco val "$N" "$R"

# Focus-CoIR (test): each query ranks its own 500 candidates; CLIP model.
R="$WORK/focus"; mkdir -p "$R"
"$PY" "$WORK/prepare.py" focus-coir "$R" "$BENCH" "$N_FOCUS"
run_eval focus-coir test "$N_FOCUS" "$R"

echo "OK: cir eval ran cirr, circo, fashioniq-{dress,shirt,toptee}, lasco and focus-coir in $((SECONDS - t0)) s"
