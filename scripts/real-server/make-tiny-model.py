#!/usr/bin/env python3
"""Write a tiny random-weight Llama model (GGUF) for llama.cpp's llama-server.

No download: the tokenizer (the Llama-2 SentencePiece vocabulary, 32,000 tokens) is copied from
`ggml-vocab-llama-spm.gguf`, which ships inside llama.cpp's source tree (and so inside the
llama-cpp-python sdist on PyPI, under vendor/llama.cpp/models/). The weights are seeded random
numbers: the model emits gibberish, but llama-server runs real inference on it, with real token
counts, real prompt processing and real per-token decoding.

Needs the `gguf` package (pinned by build-llama-server.sh: gguf==0.19.0) and numpy.

Usage:
  make-tiny-model.py --vocab .../ggml-vocab-llama-spm.gguf --out tiny.gguf [--n-layer 2] [--n-embd 128]
                     [--n-head 4] [--n-head-kv 4] [--n-ff 256] [--ctx 8192] [--seed 1234]

The same arguments give the same file, byte for byte.
"""
import argparse
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter


def copy_tokenizer(reader: GGUFReader, writer: GGUFWriter) -> int:
    """Copy every tokenizer.* key/value of the vocab file; return the vocabulary size."""
    n_vocab = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            sub = field.types[-1]
            val = field.contents()
            writer.add_key_value(key, val, vtype, sub_type=sub)
            if key == "tokenizer.ggml.tokens":
                n_vocab = len(val)
        else:
            writer.add_key_value(key, field.contents(), vtype)
    if n_vocab == 0:
        sys.exit("vocab file has no tokenizer.ggml.tokens")
    return n_vocab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", required=True, help="ggml-vocab-llama-spm.gguf from llama.cpp/models")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-head-kv", type=int, default=4)
    ap.add_argument("--n-ff", type=int, default=256)
    ap.add_argument("--ctx", type=int, default=8192, help="llama.context_length (training context)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--std", type=float, default=0.02, help="standard deviation of the random weights")
    a = ap.parse_args()

    if a.n_embd % a.n_head or a.n_head % a.n_head_kv:
        sys.exit("n_embd must divide by n_head, and n_head by n_head_kv")
    head_dim = a.n_embd // a.n_head
    n_embd_kv = head_dim * a.n_head_kv

    reader = GGUFReader(a.vocab)
    w = GGUFWriter(a.out, "llama")
    w.add_name("llmperf-actors tiny random llama")
    n_vocab = copy_tokenizer(reader, w)
    w.add_vocab_size(n_vocab)
    w.add_context_length(a.ctx)
    w.add_embedding_length(a.n_embd)
    w.add_block_count(a.n_layer)
    w.add_feed_forward_length(a.n_ff)
    w.add_head_count(a.n_head)
    w.add_head_count_kv(a.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)  # ALL_F32

    rng = np.random.default_rng(a.seed)

    def rand(*shape: int) -> np.ndarray:
        # numpy shape is the reverse of ggml's ne: (rows=out, cols=in)
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(a.std)).astype(np.float32)

    ones = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731

    w.add_tensor("token_embd.weight", rand(n_vocab, a.n_embd))
    for i in range(a.n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", ones(a.n_embd))
        w.add_tensor(p + "attn_q.weight", rand(a.n_embd, a.n_embd))
        w.add_tensor(p + "attn_k.weight", rand(n_embd_kv, a.n_embd))
        w.add_tensor(p + "attn_v.weight", rand(n_embd_kv, a.n_embd))
        w.add_tensor(p + "attn_output.weight", rand(a.n_embd, a.n_embd))
        w.add_tensor(p + "ffn_norm.weight", ones(a.n_embd))
        w.add_tensor(p + "ffn_gate.weight", rand(a.n_ff, a.n_embd))
        w.add_tensor(p + "ffn_up.weight", rand(a.n_ff, a.n_embd))
        w.add_tensor(p + "ffn_down.weight", rand(a.n_embd, a.n_ff))
    w.add_tensor("output_norm.weight", ones(a.n_embd))
    w.add_tensor("output.weight", rand(n_vocab, a.n_embd))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {a.out}: llama, {a.n_layer} layers, n_embd {a.n_embd}, {a.n_head} heads "
          f"({a.n_head_kv} kv), n_ff {a.n_ff}, ctx {a.ctx}, vocab {n_vocab}, seed {a.seed}, f32")


if __name__ == "__main__":
    main()
