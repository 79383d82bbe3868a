#!/usr/bin/env bash
# Check llmperf-actors against a real llama.cpp llama-server on this machine, and compare our numbers with
# the server's own per-request log. Not part of `cargo test` or CI: it builds llama-server (20-30 minutes
# the first time, cached under LLAMA_DIR) and runs about 1,000 real requests.
#
# Steps: build llama-server if needed (build-llama-server.sh); write the tiny random-weight model if needed
# (make-tiny-model.py); start llama-server on a free loopback port (-t 1 -np 2, trace logging to a file);
# wait for /health; optionally print the server's HTTP habits (habits.py); then for each concurrency, run
# our binary, cut the server log at that run, parse it (parse-server-log.py) and compare (compare.py).
# Exits non-zero if any run had errors or the server saw a different number of requests than we recorded.
#
# Usage: scripts/real-server/check.sh
# Env:
#   LLMPERF_BIN      our binary (default: <repo>/target/release/llmperf-actors; build it with
#                    `cargo build --release` first)
#   LLAMA_DIR        cache for the llama.cpp source, build, venv and model (default ~/.cache/llmperf-actors/llama)
#   CONCURRENCIES    space-separated (default "2 8")
#   N                requests per run (default 500)
#   MEAN_IN/STDDEV_IN/MEAN_OUT/STDDEV_OUT   token lengths (default 200/50/100/20)
#   SAMPLING         --additional-sampling-params JSON (default '{"ignore_eos": true}', so that requests
#                    run to max_tokens although the random model may sample its EOS token)
#   LLMPERF_ARGS     extra arguments for our binary, word-split (e.g. "--use-server-token-counts")
#   HABITS=1         also run habits.py against the server first
#   OUT              where the server log, our results and the comparisons go (default: a new directory
#                    under $LLAMA_DIR/runs)
#   SLOTS, CTX       llama-server -np and -c (default 2 and 4096 per slot)
#   SERVER_ARGS      extra llama-server arguments, word-split (e.g. "--cache-ram 0")
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export LLAMA_DIR=${LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmperf-actors/llama}
LLMPERF_BIN=${LLMPERF_BIN:-$repo/target/release/llmperf-actors}
CONCURRENCIES=${CONCURRENCIES:-"2 8"}
N=${N:-500}
MEAN_IN=${MEAN_IN:-200}
STDDEV_IN=${STDDEV_IN:-50}
MEAN_OUT=${MEAN_OUT:-100}
STDDEV_OUT=${STDDEV_OUT:-20}
SAMPLING=${SAMPLING:-'{"ignore_eos": true}'}
LLMPERF_ARGS=${LLMPERF_ARGS:-}
SERVER_ARGS=${SERVER_ARGS:-}
SLOTS=${SLOTS:-2}
CTX=${CTX:-$((4096 * SLOTS))}

say() { printf '[check] %s\n' "$*" >&2; }

if [ ! -x "$LLMPERF_BIN" ]; then
  say "our binary is missing: $LLMPERF_BIN"
  say "build it first (cd $repo && cargo build --release), or set LLMPERF_BIN"
  exit 2
fi

server=$("$here/build-llama-server.sh" | tail -1)
py=$LLAMA_DIR/venv/bin/python
vocab=$LLAMA_DIR/src/llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION:-0.3.36}/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf
model=$LLAMA_DIR/models/tiny.gguf
if [ ! -f "$model" ]; then
  say "writing the tiny model $model"
  mkdir -p "$LLAMA_DIR/models"
  "$py" "$here/make-tiny-model.py" --vocab "$vocab" --out "$model" >&2
else
  say "model ok: $model"
fi

OUT=${OUT:-$LLAMA_DIR/runs/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
log=$OUT/server.log
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "starting llama-server on 127.0.0.1:$port (-t 1 -np $SLOTS -c $CTX), log $log"
# -lv 4: trace level, for the per-task "new prompt ... task.n_tokens" line (the whole prompt's count).
# It also lists the RAM prompt cache at each slot selection: about 45 MB of log per 1,000 requests.
# shellcheck disable=SC2086  # SERVER_ARGS is meant to be word-split
"$server" -m "$model" --alias tiny --host 127.0.0.1 --port "$port" -t 1 -np "$SLOTS" -c "$CTX" \
  -lv 4 --log-file "$log" --log-timestamps --log-prefix --no-ui $SERVER_ARGS > "$OUT/server.stdout" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

for i in $(seq 120); do
  if curl -fsS "http://127.0.0.1:$port/health" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    say "llama-server exited; its output:"; tail -30 "$OUT/server.stdout" >&2; exit 1
  fi
  [ "$i" = 120 ] && { say "llama-server not healthy after 60 s"; exit 1; }
  sleep 0.5
done
say "health: $(curl -sS "http://127.0.0.1:$port/health")"

if [ "${HABITS:-0}" = 1 ]; then
  python3 "$here/habits.py" --port "$port" | tee "$OUT/habits.txt"
fi

status=0
for c in $CONCURRENCIES; do
  dir=$OUT/c$c
  mkdir -p "$dir"
  sleep 1
  from=$(stat -c %s "$log")
  say "run: concurrency $c, $N requests, results in $dir"
  start=$(date +%s)
  # Our binary reads every LLMPERF_<KEY> variable as a config key (and rejects unknown ones such as
  # LLMPERF_BIN): hand it an environment without this script's own LLMPERF_* variables.
  # shellcheck disable=SC2086  # LLMPERF_ARGS is meant to be word-split
  env -u LLMPERF_BIN -u LLMPERF_ARGS OPENAI_API_BASE="http://127.0.0.1:$port/v1" OPENAI_API_KEY=x \
    "$LLMPERF_BIN" --model tiny \
    --num-concurrent-requests "$c" --max-num-completed-requests "$N" \
    --mean-input-tokens "$MEAN_IN" --stddev-input-tokens "$STDDEV_IN" \
    --mean-output-tokens "$MEAN_OUT" --stddev-output-tokens "$STDDEV_OUT" \
    --additional-sampling-params "$SAMPLING" --results-dir "$dir" --timeout 600 --progress plain \
    $LLMPERF_ARGS > "$dir/stdout.txt" 2> "$dir/stderr.txt" || say "our binary exited with $?"
  say "run took $(( $(date +%s) - start )) s"
  sleep 2  # the server logs asynchronously
  python3 "$here/parse-server-log.py" "$log" --from-byte "$from" > "$dir/server-tasks.jsonl"
  python3 "$here/compare.py" --results "$dir" --server-tasks "$dir/server-tasks.jsonl" \
    --label "concurrency $c, $N requests" --server-url "http://127.0.0.1:$port" | tee "$dir/compare.txt" || status=1
done
say "all output in $OUT"
exit "$status"
