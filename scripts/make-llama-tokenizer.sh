#!/usr/bin/env bash
# Regenerate assets/llama-tokenizer.json (LLaMA / Llama-2 SentencePiece BPE
# tokenizer, 32000 tokens, as a Hugging Face tokenizer.json) from the npm
# package llama-tokenizer-js, which embeds the same vocabulary and merges.
#
# Needs: npm (registry access), python3 (standard library only), tar.
#
# Usage:
#   scripts/make-llama-tokenizer.sh           # (re)write assets/llama-tokenizer.json
#   scripts/make-llama-tokenizer.sh --check   # regenerate to a temp file and
#                                             # fail if it differs from the asset
set -euo pipefail

PKG=llama-tokenizer-js
VERSION=1.2.2
# `npm view llama-tokenizer-js@1.2.2 dist.integrity`
INTEGRITY='sha512-Wmth393dc3odWU3IzARJ3r2oIfWgw9GdJ5Gm+hGhfECNO18UHLRqEFSf511jn4E9KcQGzuuKw4Wl08pHAemLAw=='

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/assets/llama-tokenizer.json"

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null)
tarball="$tmp/$PKG-$VERSION.tgz"
[ -f "$tarball" ] || { echo "npm pack did not produce $tarball" >&2; exit 1; }

actual=$(python3 -c 'import base64,hashlib,sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
if [ "$actual" != "$INTEGRITY" ]; then
  echo "integrity mismatch for $PKG@$VERSION: got $actual, expected $INTEGRITY" >&2
  exit 1
fi

tar -xzf "$tarball" -C "$tmp" package/llama-tokenizer.js

target="$OUT"
[ "$check" = 1 ] && target="$tmp/llama-tokenizer.json"
mkdir -p "$(dirname "$target")"
python3 "$ROOT/scripts/make_llama_tokenizer.py" --js "$tmp/package/llama-tokenizer.js" --out "$target"

if [ "$check" = 1 ]; then
  if cmp -s "$target" "$OUT"; then
    echo "OK: $OUT is up to date"
  else
    echo "MISMATCH: $OUT differs from a fresh build" >&2
    exit 1
  fi
else
  sha=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$OUT")
  echo "wrote $OUT ($(wc -c <"$OUT") bytes, sha256 $sha)"
fi
