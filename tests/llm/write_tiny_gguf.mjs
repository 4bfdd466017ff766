#!/usr/bin/env node
// Writes a tiny random-weight llama-architecture GGUF (v3, all tensors F32) that llama.cpp b4753
// (the build inside node-llama-cpp 3.6.0) loads: 2 blocks, 128-wide, 2 heads of 64, a 356-token
// SentencePiece-style vocabulary (3 specials, 256 byte tokens, 97 word pieces). It exists so the
// generation tests run a real OpenAI-compatible server without downloading any model.
//
// The weights come from a fixed-seed PRNG, so the file (and its SHA-256, the cache fingerprint the
// tests use) is the same on every machine. Output rows of the specials and byte tokens are zero and
// the word rows are large, so sampling picks word pieces: answers are readable ASCII and EOS is
// practically never chosen, which makes every generation run to max_tokens (finish "length").
//
// Usage: node write_tiny_gguf.mjs OUT.gguf
import fs from 'node:fs';

const kAlignment = 32;
const kHidden = 128;
const kHeads = 2;
const kBlocks = 2;
const kFeedForward = 256;
const kContext = 512;

// GGUF metadata value types (gguf.h).
const T = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 };
const kGgmlF32 = 0;
// llama_token_type: normal, unknown, control, byte.
const kTokNormal = 1, kTokUnknown = 2, kTokControl = 3, kTokByte = 6;

const kWords = [
  'a', 'photo', 'of', 'the', 'man', 'woman', 'dog', 'cat', 'red', 'blue', 'green', 'white', 'black',
  'small', 'large', 'two', 'three', 'on', 'in', 'with', 'and', 'is', 'sitting', 'standing', 'street',
  'table', 'car', 'tree', 'house', 'shirt', 'dress', 'sky', 'field', 'water', 'bird', 'ball', 'hat',
  'near', 'next', 'to', 'under', 'holding', 'playing', 'wearing', 'image', 'shows', 'edited',
  'description', 'instead', 'background',
];

function buildVocab() {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [kTokUnknown, kTokControl, kTokControl];
  for (let b = 0; b < 256; ++b) {
    tokens.push('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
    types.push(kTokByte);
  }
  const pieces = ['\u2581'];
  for (let c = 97; c <= 122; ++c) pieces.push(String.fromCharCode(c));
  for (const p of ['.', ',', ':', "'", '-', '\u2581.', '\u2581,', '\u2581:', '\u2581-']) pieces.push(p);
  for (const w of kWords) pieces.push('\u2581' + w);
  while (pieces.length < 97) pieces.push('\u2581' + kWords[pieces.length % kWords.length] + 's');
  for (const p of pieces) {
    tokens.push(p);
    types.push(kTokNormal);
  }
  // SentencePiece scores: longer pieces merge first.
  const scores = tokens.map((t, i) => (types[i] === kTokNormal ? t.length - 1 - i * 1e-4 : 0));
  return { tokens, types, scores, firstWord: 3 + 256 };
}

// xorshift32 + Box-Muller: deterministic across platforms (Math.random is not seedable).
function makeRandom(seed) {
  let s = seed >>> 0;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
}

class Writer {
  constructor() { this.parts = []; this.size = 0; }
  push(buf) { this.parts.push(buf); this.size += buf.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  pad(alignment) { const r = this.size % alignment; if (r) this.push(Buffer.alloc(alignment - r)); }
}

function writeValue(w, type, value) {
  switch (type) {
    case T.UINT32: w.u32(value); break;
    case T.INT32: w.i32(value); break;
    case T.FLOAT32: w.f32(value); break;
    case T.BOOL: w.push(Buffer.from([value ? 1 : 0])); break;
    case T.STRING: w.str(value); break;
    default: throw new Error(`unsupported scalar type ${type}`);
  }
}

function writeKv(w, key, type, value, elemType) {
  w.str(key);
  w.u32(type);
  if (type === T.ARRAY) {
    w.u32(elemType);
    w.u64(value.length);
    for (const v of value) writeValue(w, elemType, v);
  } else {
    writeValue(w, type, value);
  }
}

function buildTensors(vocab) {
  const random = makeRandom(20260101);
  const nVocab = vocab.tokens.length;
  const tensors = [];
  // dims are ggml ne[]: ne[0] is the contiguous (input) dimension.
  const add = (name, dims, fill) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; ++i) data[i] = fill(i);
    tensors.push({ name, dims, data });
  };
  const gaussian = (std) => () => std * random();
  const ones = () => 1;
  add('token_embd.weight', [kHidden, nVocab], gaussian(0.5));
  for (let b = 0; b < kBlocks; ++b) {
    const p = `blk.${b}.`;
    add(p + 'attn_norm.weight', [kHidden], ones);
    add(p + 'attn_q.weight', [kHidden, kHidden], gaussian(0.09));
    add(p + 'attn_k.weight', [kHidden, kHidden], gaussian(0.09));
    add(p + 'attn_v.weight', [kHidden, kHidden], gaussian(0.09));
    add(p + 'attn_output.weight', [kHidden, kHidden], gaussian(0.09));
    add(p + 'ffn_norm.weight', [kHidden], ones);
    add(p + 'ffn_gate.weight', [kHidden, kFeedForward], gaussian(0.09));
    add(p + 'ffn_up.weight', [kHidden, kFeedForward], gaussian(0.09));
    add(p + 'ffn_down.weight', [kFeedForward, kHidden], gaussian(0.06));
  }
  add('output_norm.weight', [kHidden], ones);
  const wordStd = gaussian(0.6);
  add('output.weight', [kHidden, nVocab], (i) => (Math.floor(i / kHidden) >= vocab.firstWord ? wordStd() : 0));
  return tensors;
}

function writeGguf(path) {
  const vocab = buildVocab();
  const tensors = buildTensors(vocab);
  const kvs = [
    ['general.architecture', T.STRING, 'llama'],
    ['general.name', T.STRING, 'cir-tiny-random-llama'],
    ['general.alignment', T.UINT32, kAlignment],
    ['llama.context_length', T.UINT32, kContext],
    ['llama.embedding_length', T.UINT32, kHidden],
    ['llama.block_count', T.UINT32, kBlocks],
    ['llama.feed_forward_length', T.UINT32, kFeedForward],
    ['llama.attention.head_count', T.UINT32, kHeads],
    ['llama.attention.head_count_kv', T.UINT32, kHeads],
    ['llama.rope.dimension_count', T.UINT32, kHidden / kHeads],
    ['llama.rope.freq_base', T.FLOAT32, 10000],
    ['llama.attention.layer_norm_rms_epsilon', T.FLOAT32, 1e-5],
    ['llama.vocab_size', T.UINT32, vocab.tokens.length],
    ['tokenizer.ggml.model', T.STRING, 'llama'],
    ['tokenizer.ggml.tokens', T.ARRAY, vocab.tokens, T.STRING],
    ['tokenizer.ggml.scores', T.ARRAY, vocab.scores, T.FLOAT32],
    ['tokenizer.ggml.token_type', T.ARRAY, vocab.types, T.INT32],
    ['tokenizer.ggml.unknown_token_id', T.UINT32, 0],
    ['tokenizer.ggml.bos_token_id', T.UINT32, 1],
    ['tokenizer.ggml.eos_token_id', T.UINT32, 2],
    ['tokenizer.ggml.add_bos_token', T.BOOL, true],
    ['tokenizer.ggml.add_eos_token', T.BOOL, false],
  ];

  const w = new Writer();
  w.push(Buffer.from('GGUF', 'ascii'));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const [key, type, value, elemType] of kvs) writeKv(w, key, type, value, elemType);
  let offset = 0;
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(kGgmlF32);
    w.u64(offset);
    offset += t.data.byteLength;
    offset = Math.ceil(offset / kAlignment) * kAlignment;
  }
  w.pad(kAlignment);
  for (const t of tensors) {
    w.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    w.pad(kAlignment);
  }
  // Write to a temp name and rename, so a concurrent reader never loads half a file.
  const tmp = `${path}.tmp${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat(w.parts));
  fs.renameSync(tmp, path);
}

if (process.argv.length !== 3) {
  console.error('usage: node write_tiny_gguf.mjs OUT.gguf');
  process.exit(2);
}
writeGguf(process.argv[2]);
