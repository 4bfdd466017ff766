#!/usr/bin/env python3
"""Writes the hand-made seed corpora in fuzz/corpus/<target>/ (small valid inputs, std only).
JPEG and WebP seeds come from fuzz/make_image_seeds.cpp (cir's and libwebp's encoders); every
other seed is built here. Run from anywhere: python3 fuzz/make_corpus.py"""
import gzip, json, os, struct, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- PNG ---------------------------------------------------------------------------------
def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def png(w, h, depth, color, rows, extra=b"", interlace=0):
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


put("decode_png", "rgb_3x2.png", png(3, 2, 8, 2, [bytes(range(9)), bytes(range(9, 18))]))
put("decode_png", "gray_4x4.png", png(4, 4, 8, 0, [bytes([i * 16 + j for j in range(4)]) for i in range(4)]))
put("decode_png", "palette_trns_2x2.png",
    png(2, 2, 8, 3, [b"\x00\x01", b"\x02\x00"], png_chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255]))
        + png_chunk(b"tRNS", b"\x80")))
put("decode_png", "rgba16_2x1.png", png(2, 1, 16, 6, [bytes(range(16))]))
put("decode_png", "gray1bit_8x2.png", png(8, 2, 1, 0, [b"\xa5", b"\x5a"]))
put("decode_png", "gray_alpha_interlaced_1x1.png", png(1, 1, 8, 4, [b"\x7f\xff"], interlace=1))

# ---- BMP ---------------------------------------------------------------------------------
def bmp(w, h, bpp, pixels, palette=b"", compression=0, header_extra=b"", top_down=False):
    info = struct.pack("<IiiHHIIiiII", 40 + len(header_extra), w, -h if top_down else h, 1, bpp, compression,
                       len(pixels), 2835, 2835, len(palette) // 4, 0) + header_extra
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


put("decode_bmp", "rgb24_2x2.bmp", bmp(2, 2, 24, b"\x00\x00\xff\x00\xff\x00\x00\x00" b"\xff\x00\x00\xff\xff\xff\x00\x00"))
put("decode_bmp", "pal8_3x2_topdown.bmp",
    bmp(3, 2, 8, b"\x00\x01\x02\x00\x02\x01\x00\x00", b"\x00\x00\xff\x00\x00\xff\x00\x00\xff\x00\x00\x00", top_down=True))
put("decode_bmp", "pal4_4x1.bmp", bmp(4, 1, 4, b"\x01\x23\x00\x00", b"".join(bytes([i * 16, i * 8, i * 4, 0]) for i in range(16))))
put("decode_bmp", "pal1_8x1.bmp", bmp(8, 1, 1, b"\xa5\x00\x00\x00", b"\x00\x00\x00\x00\xff\xff\xff\x00"))
put("decode_bmp", "bitfields32_2x1.bmp",  # BI_BITFIELDS: the three masks follow the 40-byte header
    bmp(2, 1, 32, b"\x11\x22\x33\x44\x55\x66\x77\x88", palette=struct.pack("<III", 0x00ff0000, 0x0000ff00, 0x000000ff),
        compression=3))
put("decode_bmp", "rle8_4x2.bmp",
    bmp(4, 2, 8, b"\x04\x01\x00\x00\x02\x02\x00\x02\x01\x00\x00\x01", b"\x00\x00\x00\x00\xff\x00\x00\x00\x00\xff\x00\x00", compression=1))
put("decode_bmp", "rgb16_2x1.bmp", bmp(2, 1, 16, b"\x1f\x00\xe0\x7f"))

# ---- GIF ---------------------------------------------------------------------------------
def lzw(indices, min_code_size):
    """Minimal GIF LZW: a clear code before every code keeps the code size at min_code_size + 1."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    size = min_code_size + 1
    codes = []
    for i in indices:
        codes += [clear, i]
    codes.append(end)
    bits, nbits, out = 0, 0, bytearray()
    for c in codes:
        bits |= c << nbits
        nbits += size
        while nbits >= 8:
            out.append(bits & 0xff)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xff)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255]) for i in range(0, len(out), 255))
    return bytes([min_code_size]) + blocks + b"\x00"


def gif(w, h, palette, indices, gce=b"", interlace=False, local=False, frames=1):
    n = len(palette) // 3
    bits = max(1, (n - 1).bit_length()) - 1
    pal = palette + b"\x00" * (3 * (2 << bits) - len(palette))
    out = b"GIF89a" + struct.pack("<HHBBB", w, h, (0 if local else 0x80) | bits, 0, 0) + (b"" if local else pal)
    for _ in range(frames):
        out += gce
        flags = (0x80 | bits if local else 0) | (0x40 if interlace else 0)
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, flags) + (pal if local else b"")
        out += lzw(indices, max(2, bits + 1))
    return out + b"\x3b"


rgb4 = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
put("decode_gif", "global_2x2.gif", gif(2, 2, rgb4, [0, 1, 2, 3]))
put("decode_gif", "local_interlaced_2x3.gif", gif(2, 3, rgb4, [0, 1, 2, 3, 0, 1], interlace=True, local=True))
put("decode_gif", "transparent_two_frames_3x1.gif",
    gif(3, 1, rgb4, [3, 2, 1], gce=b"\x21\xf9\x04\x01\x00\x00\x02\x00", frames=2))

# ---- npy ---------------------------------------------------------------------------------
def npy(descr, shape, payload, version=1):
    shape_text = "(" + "".join(f"{s}, " if len(shape) > 1 and i + 1 < len(shape) else f"{s}," if len(shape) == 1 else f"{s}"
                               for i, s in enumerate(shape)) + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + payload


put("npy", "f4_2x3.npy", npy("<f4", [2, 3], struct.pack("<6f", *range(6))))
put("npy", "f2_4.npy", npy("<f2", [4], struct.pack("<4H", 0x3c00, 0x4000, 0xc000, 0x7c00)))
put("npy", "f8_scalar_v2.npy", npy("<f8", [], struct.pack("<d", 3.5), version=2))
put("npy", "i8_2x1x2.npy", npy("<i8", [2, 1, 2], struct.pack("<4q", 1, -2, 3, -4)))

# ---- safetensors -------------------------------------------------------------------------
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "f32_f16_bf16.safetensors", safetensors({
    "a.weight": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
    "b.bias": ("F16", [3], struct.pack("<3H", 0x3c00, 0x4000, 0x4200)),
    "c": ("BF16", [1, 2], struct.pack("<2H", 0x3f80, 0x4000))}, {"format": "pt"}))
put("safetensors", "f64_i64_scalar.safetensors", safetensors({
    "d": ("F64", [], struct.pack("<d", 2.5)), "e": ("I64", [2], struct.pack("<2q", 7, 8)),
    "empty": ("F32", [0, 3], b"")}))

# ---- torch.save data.pkl (fed straight to the std-only unpickler: storages are described, not read)
def s(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def tensor(storage_type, key, numel, offset, size, stride):
    tup = lambda xs: b"(" + b"".join(b"K" + bytes([x]) for x in xs) + b"t"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + b"(" + s("storage") + b"ctorch\n" + storage_type + b"\n"
            + s(key) + s("cpu") + b"K" + bytes([numel]) + b"tQ" + b"K" + bytes([offset]) + tup(size) + tup(stride)
            + b"\x89ccollections\nOrderedDict\n)Rtr\x01\x00\x00\x00R")


pkl_state = (b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(" + s("combiner.weight")
             + tensor(b"FloatStorage", "0", 16, 0, [4, 4], [4, 1]) + s("combiner.bias")
             + tensor(b"FloatStorage", "0", 16, 4, [4], [1]) + s("ids") + tensor(b"ByteStorage", "1", 6, 0, [2, 3], [3, 1])
             + b"u}q\x02" + s("version") + b"K\x01sbh\x01.")
pkl_dict = (b"\x80\x02}q\x00(" + s("epoch") + b"M\x10\x27" + s("lr") + b"G?\xb9\x99\x99\x99\x99\x99\x9a"
            + s("name") + b"\x8c\x08combiner" + s("flags") + b"](\x88\x89Ne" + s("big") + b"\x8a\x05\x00\x00\x00\x00\x01"
            + s("neg") + b"J\xff\xff\xff\xff" + s("pair") + b"K\x01K\x02\x86" + s("Combiner")
            + b"ccollections\nOrderedDict\n)R" + s("w") + tensor(b"FloatStorage", "0", 16, 0, [2, 2], [2, 1])
            + b"su.")
put("torch_pickle", "state_dict.pkl", pkl_state)
put("torch_pickle", "checkpoint_dict.pkl", pkl_dict)
put("torch_pickle", "memo_list.pkl", b"\x80\x02]q\x00(K\x01K\x02h\x00j\x00\x00\x00\x00eX\x01\x00\x00\x00a\x85.")


# Protocol 4 as Python 3.8+ writes it (FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE), a one-entry
# dict filled by SETITEM as in LAVIS's {"model": ...}, and a Parameter over a half tensor.
def u(text):
    b = text.encode()
    return b"\x8c" + bytes([len(b)]) + b + b"\x94"


def stack_global(module, name):
    return u(module) + u(name) + b"\x93\x94"


pkl4_body = (b"}\x94" + u("model") + stack_global("collections", "OrderedDict") + b")R\x94" + u("w")
             + stack_global("torch._utils", "_rebuild_parameter") + b"(" + stack_global("torch._utils", "_rebuild_tensor_v2")
             + b"((" + u("storage") + stack_global("torch", "HalfStorage") + u("0") + u("cpu") + b"K\x20t\x94Q"
             + b"K\x00K\x04K\x04\x86\x94K\x04K\x01\x86\x94\x89}\x94t\x94R\x94\x88}\x94t\x94R\x94ss.")
put("torch_pickle", "protocol4_parameter.pkl", b"\x80\x04\x95" + struct.pack("<Q", len(pkl4_body)) + pkl4_body)

# ---- JSON configs ------------------------------------------------------------------------
put("model_config", "hf_clip.json", json.dumps({
    "model_type": "clip", "projection_dim": 64,
    "text_config": {"hidden_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2, "intermediate_size": 256,
                    "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu"},
    "vision_config": {"hidden_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2, "intermediate_size": 256,
                      "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05},
    "crop_size": {"height": 32, "width": 32}, "size": {"shortest_edge": 32}, "do_center_crop": True,
    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}, indent=1))
put("model_config", "open_clip_vit.json", json.dumps({
    "model_cfg": {"embed_dim": 64, "quick_gelu": True,
                  "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}},
    "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "resize_mode": "squash"}}, indent=1))
put("model_config", "open_clip_resnet.json", json.dumps({
    "model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": [64, 64], "layers": [1, 1, 1, 1], "width": 32},
                  "text_cfg": {"width": 64, "heads": 2, "layers": 1}}}))
put("model_config", "hf_old_dict_layout.json", json.dumps({
    "text_config": None, "vision_config": None, "text_config_dict": {"hidden_size": 32},
    "vision_config_dict": {"hidden_size": 32, "image_size": 16, "patch_size": 4}, "projection_dim": 16,
    "crop_size": 16, "size": 16}))
put("blip2_config", "hf_blip2.json", json.dumps({
    "model_type": "blip-2", "num_query_tokens": 8, "image_text_hidden_size": 32,
    "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                      "image_size": 28, "patch_size": 14, "layer_norm_eps": 1e-6},
    "qformer_config": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
                       "max_position_embeddings": 64, "vocab_size": 1000, "cross_attention_frequency": 2,
                       "encoder_hidden_size": 64},
    "size": {"height": 28, "width": 28}, "resample": 3, "image_mean": [0.48, 0.45, 0.4], "image_std": [0.26, 0.26, 0.27]},
    indent=1))
put("blip2_config", "minimal.json", '{"model_type": "blip_2"}')
put("manifest", "manifest_fp16.json", json.dumps({
    "format_version": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
    "cir_version": "0.1.0", "model": {"family": "clip", "format": "hf", "path": "models/x", "weights_sha256": "ab"},
    "preprocess": {"image_size": 224, "resize_mode": "shortest", "target_pad_ratio": 1.25, "mean": [0.5, 0.5, 0.5],
                   "std": [0.2, 0.2, 0.2]},
    "embed_dim": 8, "vector_dtype": "fp16", "vectors_per_item": 1,
    "index": {"key": "Flat", "metric": "inner_product", "memory_budget_bytes": 1000000}}, indent=2))
put("manifest", "manifest_row_parts.json", json.dumps({
    "format_version": 1, "embed_dim": 12, "vector_dtype": "fp32", "vectors_per_item": 3,
    "preprocess": {"resize_mode": "targetpad"}, "row_parts": [{"name": "image", "dim": 8}, {"name": "text", "dim": 4}],
    "index": {"key": "HNSW32"}}))

# ---- filters -----------------------------------------------------------------------------
for i, e in enumerate(["color = red", "size >= 3 and not (shape in (cube, 'ball')) or n < -1.5e3",
                       "!(a != \"x \\\"y\\\"\") && b <= 2 || c > 0", "caption exists AND id NOT IN (1, 2, 3)",
                       "(color == red OR color = blue) and (size = small) and tag=\"on sale\" and k:x/y@z+1 = '42'"]):
    put("filter_expr", f"expr_{i}.txt", e)
for i, e in enumerate([
        {"key": "color", "match": {"value": "red"}},
        {"must": [{"key": "size", "range": {"gte": 1, "lt": 5.5}}], "must_not": [{"key": "shape", "match": {"any": ["cube", "ball"]}}]},
        {"should": [{"key": "n", "match": {"value": 3}}, {"must": [{"key": "b", "match": {"value": True}}]}]},
        {"key": "caption", "match": {"except": ["a", "b"]}}]):
    put("filter_json", f"filter_{i}.json", json.dumps(e))

# ---- metadata files ----------------------------------------------------------------------
put("metadata_csv", "basic.csv", "path,color,size,score\na.png,red,3,0.5\nsub/b.jpg,\"blue, dark\",4,-1e3\n")
put("metadata_csv", "quoted.csv", "file,caption\r\n\"c.png\",\"a \"\"quoted\"\"\r\nline\"\r\nd.png,\r\n")
put("metadata_jsonl", "basic.jsonl",
    '{"path": "a.png", "color": "red", "size": 3, "ok": true}\n\n{"file": "b.jpg", "tags": ["x"], "n": null}\n')

# ---- tokenizers --------------------------------------------------------------------------
for i, t in enumerate(["A photo of a red cube.", "Ça coûte 5€ — “quoted” &amp; ﬁne!  \t\n", "it's    don't  HELLO   123",
                       "日本語のテキスト and emoji 🙂", "\xff\xfe invalid \xc3\x28 utf8"]):
    put("clip_tokenize", f"text_{i}.txt", t.encode("utf-8", "surrogateescape") if i < 4 else
        b"\xff\xfe invalid \xc3\x28 utf8")
    put("wordpiece_tokenize", f"text_{i}.txt", t.encode("utf-8", "surrogateescape") if i < 4 else
        b"[CLS] \xff\xfe invalid [MASK] \xc3\x28 utf8 [SEP]")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


byte_symbols = bytes_to_unicode()
merges = [("a", "b"), ("c", "d</w>"), ("ab", "cd</w>"), ("r", "e"), ("re", "d</w>")]
vocab = {}
for sym in byte_symbols:
    vocab[sym] = len(vocab)
for sym in byte_symbols:
    vocab[sym + "</w>"] = len(vocab)
for l, r in merges:
    vocab[l + r] = len(vocab)
vocab["<|startoftext|>"] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
merges_txt = "#version: 0.2\n" + "".join(f"{l} {r}\n" for l, r in merges)
put("clip_vocab", "vocab_merges", b"v" + json.dumps(vocab, ensure_ascii=False).encode() + b"\n=====\n" + merges_txt.encode())
put("clip_vocab", "tokenizer_json", b"t" + json.dumps({"model": {"type": "BPE", "vocab": vocab,
                                                                 "merges": [f"{l} {r}" for l, r in merges[:3]] + [list(m) for m in merges[3:]]},
                                                       "added_tokens": [{"id": 9, "content": "<|endoftext|>"}]},
                                                      ensure_ascii=False).encode())
put("clip_vocab", "openai_bpe_gz", b"g" + gzip.compress(("bpe header line\n" + "".join(f"{l} {r}\n" for l, r in merges)).encode(), mtime=0))
wp_vocab = "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nphoto\nof\nred\ncube\n##s\n##ing\n,\n.\n!\n-\nlower\nleft\n"
put("wordpiece_vocab", "vocab_only", wp_vocab)
put("wordpiece_vocab", "vocab_added_config", wp_vocab + "\n=====\n" + '{"[DEC]": 19}' + "\n=====\n" + '{"do_lower_case": false}')

# ---- search request bodies (src/server/search_codec.cpp) ------------------------------------
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
for i, body in enumerate([
        {"query": {"text": "a red cube"}, "limit": 5},
        {"query": {"reference": "gallery/a.png", "text": ["make it blue", "bigger"], "negative_text": "green", "method": "sum",
                   "weights": {"image": 0.5, "text": 1.5, "negative": 0.2}}, "offset": 10, "score_threshold": 0.1,
         "filter": "color = red and size >= 2", "exclude_ids": ["x"], "candidate_ids": ["a", "b"], "exclude_reference": False,
         "params": {"ef": 64, "nprobe": 4, "exact": True}, "with_payload": False, "with_vector": True, "deduplicate": True},
        {"query": {"reference": {"embedding": [0.1, -0.2, 0.3]}, "text": "x", "method_options": {"alpha": 0.5, "mode": "fast"},
                   "template": "a photo of $"}, "filter": {"must": [{"key": "color", "match": {"value": "red"}}]}},
        {"query": {"reference": {"image": PNG_1PX}}},
        {"query": {"reference": {"image_url": "data:image/png;base64," + PNG_1PX}}}]):
    put("search_codec", f"body_{i}.json", json.dumps(body))
