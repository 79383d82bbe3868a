#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from source without internet access beyond the package registries.
#
# The llama.cpp source ships inside the source distribution of `llama-cpp-python` on PyPI
# (vendor/llama.cpp). This script, each step skipped when its result is already there:
#   1. makes a Python venv with cmake, ninja (wheels from PyPI) and gguf (for make-tiny-model.py);
#   2. downloads the llama-cpp-python sdist (pip download, the sdist only; no build of it);
#   3. extracts it;
#   4. configures llama.cpp (Release, static, no OpenSSL, no prebuilt web UI: that would be a download);
#   5. builds the llama-server target only, under `nice -n 19` (20-30 minutes on two cores).
#
# Everything goes under LLAMA_DIR (default: ~/.cache/llmperf-actors/llama):
#   $LLAMA_DIR/venv   $LLAMA_DIR/dl   $LLAMA_DIR/src   $LLAMA_DIR/build/bin/llama-server
#
# Env: LLAMA_DIR, LLAMA_JOBS (default 2), LLAMA_CPP_PYTHON_VERSION (default 0.3.36).
# Prints the path of llama-server on its last line of stdout.
set -euo pipefail

LLAMA_DIR=${LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmperf-actors/llama}
LLAMA_JOBS=${LLAMA_JOBS:-2}
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
GGUF_VERSION=0.19.0

venv=$LLAMA_DIR/venv
dl=$LLAMA_DIR/dl
src=$LLAMA_DIR/src/llama_cpp_python-$VERSION/vendor/llama.cpp
build=$LLAMA_DIR/build
server=$build/bin/llama-server

say() { printf '[build-llama-server] %s\n' "$*" >&2; }

mkdir -p "$LLAMA_DIR"
say "LLAMA_DIR=$LLAMA_DIR"

# 1. venv with the build tools and gguf
if [ ! -x "$venv/bin/cmake" ] || [ ! -x "$venv/bin/ninja" ] || ! "$venv/bin/python" -c 'import gguf, numpy' 2>/dev/null; then
  say "creating venv $venv (cmake, ninja, gguf==$GGUF_VERSION, numpy)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "cmake>=3.21,<5" "ninja>=1.11" "gguf==$GGUF_VERSION" numpy
else
  say "venv ok: $venv"
fi

# 2. the sdist. `--no-binary llama-cpp-python` (not `:all:`) so that pip may use wheels for the build
# tools it installs to read the sdist's metadata, instead of compiling cmake from source.
sdist=$dl/llama_cpp_python-$VERSION.tar.gz
if [ ! -f "$sdist" ]; then
  say "downloading the llama-cpp-python==$VERSION sdist into $dl"
  "$venv/bin/pip" download --quiet --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -d "$dl"
else
  say "sdist ok: $sdist"
fi

# 3. extract
if [ ! -f "$src/CMakeLists.txt" ]; then
  say "extracting into $LLAMA_DIR/src"
  mkdir -p "$LLAMA_DIR/src"
  tar -xzf "$sdist" -C "$LLAMA_DIR/src"
else
  say "source ok: $src"
fi

# 4. configure
if [ ! -f "$build/build.ninja" ]; then
  say "configuring $build"
  nice -n 19 "$venv/bin/cmake" -S "$src" -B "$build" -G Ninja \
    -DCMAKE_MAKE_PROGRAM="$venv/bin/ninja" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF >&2
else
  say "configured: $build"
fi

# 5. build (ninja itself skips everything when up to date)
if [ ! -x "$server" ]; then
  say "building llama-server with $LLAMA_JOBS jobs under nice -n 19 (20-30 minutes on two cores)"
  start=$(date +%s)
  nice -n 19 "$venv/bin/cmake" --build "$build" --target llama-server -j "$LLAMA_JOBS" >&2
  say "built in $(( $(date +%s) - start )) s"
else
  say "llama-server ok: $server"
fi

"$server" --version >&2 2>&1 || true
echo "$server"
