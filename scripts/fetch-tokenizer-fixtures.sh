#!/usr/bin/env bash
# Fetch llama.cpp's LLaMA SentencePiece tokenizer test vectors
# (ggml-vocab-llama-spm.gguf.inp / .out, MIT) from the llama-cpp-python
# source distribution on PyPI, which vendors llama.cpp, and copy them to
# tests/fixtures/. Nothing is built: the sdist is only downloaded and unpacked
# (pip does install the sdist's build backend to read its metadata).
#
# Needs: pip (PyPI access), python3, tar.
#
# Usage:
#   scripts/fetch-tokenizer-fixtures.sh           # (re)write tests/fixtures/ggml-vocab-llama-spm.gguf.{inp,out}
#   scripts/fetch-tokenizer-fixtures.sh --check   # fail if the checked-in files differ from the sdist's
set -euo pipefail

PKG=llama-cpp-python
VERSION=0.3.36
SDIST=llama_cpp_python-$VERSION.tar.gz
SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
INNER=llama_cpp_python-$VERSION/vendor/llama.cpp/models
FILES=(ggml-vocab-llama-spm.gguf.inp ggml-vocab-llama-spm.gguf.out)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="$ROOT/tests/fixtures"

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download --quiet --no-deps --no-binary "$PKG" "$PKG==$VERSION" -d "$tmp"
[ -f "$tmp/$SDIST" ] || { echo "pip did not download $SDIST" >&2; exit 1; }

sha=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$tmp/$SDIST")
if [ "$sha" != "$SDIST_SHA256" ]; then
  echo "sha256 mismatch for $SDIST: got $sha, expected $SDIST_SHA256" >&2
  exit 1
fi

members=()
for f in "${FILES[@]}"; do members+=("$INNER/$f"); done
tar -xzf "$tmp/$SDIST" -C "$tmp" "${members[@]}"

status=0
mkdir -p "$DEST"
for f in "${FILES[@]}"; do
  if [ "$check" = 1 ]; then
    if cmp -s "$tmp/$INNER/$f" "$DEST/$f"; then
      echo "OK: tests/fixtures/$f"
    else
      echo "MISMATCH: tests/fixtures/$f differs from $PKG $VERSION" >&2
      status=1
    fi
  else
    cp "$tmp/$INNER/$f" "$DEST/$f"
    echo "wrote tests/fixtures/$f"
  fi
done
exit $status
