#!/usr/bin/env bash
# `cir model info` on every fixture checkpoint layout: CLIP (Hugging Face, OpenAI TorchScript,
# OpenCLIP, ResNet) and BLIP-2 (Hugging Face, LAVIS). Checks the family and the dimensions the
# fixture configs declare, that the printed weights hash is the file's SHA-256, and that a garbled
# checkpoint exits non-zero with a message naming the file.
set -euo pipefail
CIR="$1"
SHARED="$2"
CLIP="$SHARED/fixtures/clip"
BLIP2="$SHARED/fixtures/blip2"
if [ ! -d "$CLIP/vit/hf" ] || [ ! -d "$BLIP2/hf" ]; then
  echo "SKIP: shared model fixtures are absent; place ../shared beside the checkout"
  exit 77
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# The value of a top-level "key": <number or string> line in `--json` output (2-space indent).
field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }

# expect_info <checkpoint> <family> <format> <embed_dim> <weights file>
expect_info() {
  local path="$1" family="$2" format="$3" dim="$4" weights="$5"
  "$CIR" model info "$path" --json > "$WORK/info.json" || fail "model info $path exited non-zero"
  [ "$(field "$WORK/info.json" family)" = "$family" ] || fail "$path: family '$(field "$WORK/info.json" family)'"
  [ "$(field "$WORK/info.json" format)" = "$format" ] || fail "$path: format '$(field "$WORK/info.json" format)'"
  [ "$(field "$WORK/info.json" embed_dim)" = "$dim" ] || fail "$path: embed_dim '$(field "$WORK/info.json" embed_dim)'"
  local params
  params="$(field "$WORK/info.json" n_parameters)"
  [ "${params:-0}" -gt 0 ] || fail "$path: n_parameters '$params'"
  local sha
  sha="$(sha256sum "$weights" | cut -d' ' -f1)"
  [ "$(field "$WORK/info.json" weights_sha256)" = "$sha" ] || fail "$path: weights_sha256 is not sha256($weights)"
  "$CIR" model info "$path" > "$WORK/info.txt" || fail "model info $path (text) exited non-zero"
  grep -q "^weights sha256: $sha$" "$WORK/info.txt" || fail "$path: text output lacks the weights hash"
  echo "  $family/$format: embed_dim $dim, $params parameters"
}

expect_info "$CLIP/vit/hf" clip hf 32 "$CLIP/vit/hf/model.safetensors"
expect_info "$CLIP/vit/openai/model.pt" clip openai_torchscript 32 "$CLIP/vit/openai/model.pt"
expect_info "$CLIP/vit/openai" clip open_clip 32 "$CLIP/vit/openai/open_clip_model.safetensors"
expect_info "$CLIP/rn/openai/model.pt" clip openai_torchscript 32 "$CLIP/rn/openai/model.pt"
grep -q "^image tower:    resnet" "$WORK/info.txt" || fail "the ResNet fixture is not reported as a resnet tower"
expect_info "$BLIP2/hf" blip2 hf 24 "$BLIP2/hf/model.safetensors"
expect_info "$BLIP2/lavis/blip2_pretrained.pth" blip2 lavis 24 "$BLIP2/lavis/blip2_pretrained.pth"
grep -q "^Q-Former:       width 64, .* 8 queries" "$WORK/info.txt" || fail "BLIP-2 text output lacks the Q-Former line"

# A garbled checkpoint: a clear error naming the file, no crash.
mkdir -p "$WORK/bad"
cp "$CLIP/vit/hf/"*.json "$CLIP/vit/hf/"*.txt "$WORK/bad/" 2>/dev/null || true
head -c 1000 "$CLIP/vit/hf/model.safetensors" > "$WORK/bad/model.safetensors"
if "$CIR" model info "$WORK/bad" > /dev/null 2> "$WORK/err.txt"; then fail "a truncated checkpoint was accepted"; fi
grep -q "model.safetensors" "$WORK/err.txt" || fail "the error does not name the file: $(cat "$WORK/err.txt")"
echo "  garbled checkpoint: $(head -c 200 "$WORK/err.txt")"
echo "OK"
