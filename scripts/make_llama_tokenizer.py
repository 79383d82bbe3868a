#!/usr/bin/env python3
"""Build a Hugging Face ``tokenizer.json`` for the LLaMA / Llama-2 tokenizer.

Input: ``llama-tokenizer.js`` from the npm package ``llama-tokenizer-js``
(1.2.2). That file embeds the tokenizer data as two base64 string constants:

* ``llama_vocab_base64``: base64 of the UTF-8 text of all 32000 token strings
  joined by ``"\\n"``; the line number (from 0) is the token id.  No token
  contains a literal newline (byte 0x0A is the token ``<0x0A>``).
* ``llama_merges_binary``: base64 of a flat array of little-endian uint16
  token ids; each consecutive pair (left id, right id) is one BPE merge and
  the position of the pair in the array is its rank (first = highest
  priority).

Output: a tokenizer.json shaped like the one of HF ``LlamaTokenizerFast``
(legacy SentencePiece-BPE layout): BPE model with byte fallback, normalizer
Prepend("▁") + Replace(" " -> "▁"), no pre-tokenizer, the usual Llama decoder,
and a TemplateProcessing post-processor that adds ``<s>`` (id 1) in front.

Only the Python standard library is used; the output bytes depend only on the
input file, so reruns are byte-identical.

Usage: make_llama_tokenizer.py --js path/to/llama-tokenizer.js --out tokenizer.json
"""

import argparse
import base64
import json
import re
import struct
import sys

VOCAB_SIZE = 32000
N_MERGES = 61249  # number of merges in the LLaMA tokenizer
SPACE = "\u2581"  # "▁", SentencePiece's whitespace marker

# Sanity anchors (token -> id) that any correct LLaMA vocabulary satisfies.
ANCHORS = {
    "<unk>": 0,
    "<s>": 1,
    "</s>": 2,
    "<0x00>": 3,
    "<0x0A>": 13,
    "<0xFF>": 258,
    SPACE + SPACE: 259,
    SPACE + "t": 260,
    SPACE + "world": 3186,
    SPACE + "Hello": 15043,
    SPACE: 29871,
    "!": 29991,
}


def extract_constant(source: str, name: str) -> bytes:
    """Return the base64-decoded value of `const NAME = "...."` in the JS file."""
    matches = re.findall(r'\bconst\s+' + re.escape(name) + r'\s*=\s*"([A-Za-z0-9+/=]*)"', source)
    if len(matches) != 1:
        raise SystemExit(f"expected exactly one `const {name} = \"...\"` in the JS file, found {len(matches)}")
    return base64.b64decode(matches[0], validate=True)


def decode_vocab(raw: bytes) -> list:
    vocab = raw.decode("utf-8").split("\n")
    if len(vocab) != VOCAB_SIZE:
        raise SystemExit(f"vocab has {len(vocab)} entries, expected {VOCAB_SIZE}")
    if len(set(vocab)) != len(vocab):
        raise SystemExit("vocab has duplicate token strings")
    for i in range(256):
        if vocab[3 + i] != f"<0x{i:02X}>":
            raise SystemExit(f"byte token {3 + i} is {vocab[3 + i]!r}, expected <0x{i:02X}>")
    for tok, tid in ANCHORS.items():
        if vocab[tid] != tok:
            raise SystemExit(f"token {tid} is {vocab[tid]!r}, expected {tok!r}")
    for tid, tok in enumerate(vocab):
        if tok == "" or " " in tok:
            # merges are written as "left right", so no token may contain a space
            raise SystemExit(f"unexpected token {tid}: {tok!r}")
    return vocab


def decode_merges(raw: bytes, vocab: list) -> list:
    if len(raw) % 4:
        raise SystemExit(f"merge data length {len(raw)} is not a multiple of 4")
    ids = struct.unpack(f"<{len(raw) // 2}H", raw)
    index = {tok: i for i, tok in enumerate(vocab)}
    merges = []
    seen = set()
    for rank in range(len(ids) // 2):
        left, right = ids[2 * rank], ids[2 * rank + 1]
        if left >= len(vocab) or right >= len(vocab):
            raise SystemExit(f"merge {rank} refers to an id out of range: {left} {right}")
        a, b = vocab[left], vocab[right]
        if a + b not in index:
            raise SystemExit(f"merge {rank} ({a!r}, {b!r}) produces a token missing from the vocab")
        if (a, b) in seen:
            raise SystemExit(f"merge {rank} ({a!r}, {b!r}) is duplicated")
        seen.add((a, b))
        merges.append(f"{a} {b}")
    if len(merges) != N_MERGES:
        raise SystemExit(f"found {len(merges)} merges, expected {N_MERGES}")
    return merges


def special(tid: int, content: str) -> dict:
    return {
        "id": tid,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def build(vocab: list, merges: list) -> dict:
    bos = "<s>"
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Prepend", "prepend": SPACE},
                {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
            ],
        },
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            # single: "<s> $A"; pair: "<s> $A <s> $B" (as LlamaTokenizerFast with add_bos_token=True)
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [1], "tokens": [bos]}},
        },
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(vocab)},
            "merges": merges,
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--js", required=True, help="path to llama-tokenizer.js from llama-tokenizer-js")
    ap.add_argument("--out", required=True, help="where to write tokenizer.json")
    args = ap.parse_args()

    with open(args.js, encoding="utf-8") as f:
        source = f.read()
    vocab = decode_vocab(extract_constant(source, "llama_vocab_base64"))
    merges = decode_merges(extract_constant(source, "llama_merges_binary"), vocab)

    text = json.dumps(build(vocab, merges), ensure_ascii=False, indent=2) + "\n"
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {args.out}: {len(vocab)} tokens, {len(merges)} merges", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
