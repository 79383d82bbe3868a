#!/usr/bin/env bash
# Where a request's time goes at concurrency 1 on a zero-delay stream (issue 20's conc-1 throughput): the
# client and the raw reader alternated against fresh simulators, each reading the simulator's timing log.
#
#   serve       simulator: the request read → its last piece handed to the socket writer (p50, µs)
#   turnaround  simulator: its last piece of request k → request k + 1 read (p50, µs): the reader finishing
#               the response, its own turnaround, both ends' wake-ups and the simulator reading the request
#   period      simulator: request k read → request k + 1 read (p50, µs)
# and, for the client, from its own records: `gap` (its stream's end → its next request's clock start) and
# `pre_send` (building the body, the pool checkout), p50 in µs.
#
# Usage: ROUNDS=5 REQUESTS=3000 scripts/bench-turnaround.sh [CLIENT_BIN...]
# SIM_CPUS / CLIENT_CPUS pin the simulator and both readers with `taskset -c` (e.g. SIM_CPUS=1 CLIENT_CPUS=0: each
# side keeps its core from round to round, which removes most of the run-to-run spread on a 2-core machine).
# The last lines give, for each client, the median over rounds of its period and of the raw reader's period
# over its own in the same round (the conc-1 throughput ratio).
# (default client: target/release/llmperf-actors; the raw reader and the simulator are built if absent.) The
# raw reader sends the client's own request body, as in scripts/bench-client.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/examples/raw_reader ] && [ -x target/release/llmperf-actors ] ||
  cargo build --release --quiet --bin llmperf-actors --example raw_reader
raw=target/release/examples/raw_reader
sim_bin=target/release/llmperf-actors
bins=("$@"); [ ${#bins[@]} -eq 0 ] && bins=(target/release/llmperf-actors)
rounds=${ROUNDS:-5}; requests=${REQUESTS:-3000}
tmp=$(mktemp -d); sim=""
trap '[ -n "$sim" ] && kill "$sim" 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client() { # client BIN PORT RESULTS_DIR EXTRA...
  local b=$1 p=$2 d=$3; shift 3
  ${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} env RUST_LOG=error OPENAI_API_BASE="http://127.0.0.1:$p/v1" "$b" --model bench --mean-input-tokens 30 \
    --stddev-input-tokens 0 --stddev-output-tokens 0 --mean-output-tokens 100 --num-concurrent-requests 1 \
    --results-dir "$d" --quiet --no-charts --no-csv "$@"
}

# The client's request body, caught by a listener that answers 503 (for the raw reader's --body).
python3 scripts/catch-body.py "$tmp/body.json" &
catcher=$!
for _ in $(seq 200); do [ -s "$tmp/body.json.port" ] && break; sleep 0.05; done
client "${bins[0]}" "$(cat "$tmp/body.json.port")" "$tmp/body" --max-num-completed-requests 1 --timeout 30 \
  > /dev/null 2>&1 || true
wait "$catcher"

printf "%-24s %6s %12s %12s %12s %8s %10s\n" reader round "serve" "turnaround" "period" "gap" "pre_send"
for round in $(seq "$rounds"); do
  for reader in raw "${bins[@]}"; do
    port=$(free_port); log="$tmp/timing.log"; : > "$log"
    ${SIM_CPUS:+taskset -c "$SIM_CPUS"} "$sim_bin" serve-sim --port "$port" --workers 1 --ttft-ms 0 --itl-ms 0 --output-tokens 100 \
      --timing-log "$log" > /dev/null 2>&1 &
    sim=$!
    for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
    rm -rf "$tmp/res"
    if [ "$reader" = raw ]; then
      ${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} "$raw" "127.0.0.1:$port" 1 600 100 --requests "$requests" --body "$tmp/body.json" > /dev/null
    else
      client "$reader" "$port" "$tmp/res" --max-num-completed-requests "$requests" > /dev/null 2>&1
    fi
    kill "$sim"; wait "$sim" 2>/dev/null || true; sim=""
    python3 - "$log" "$tmp/res" "$reader" "$round" <<'PY' | tee -a "$tmp/rows"
import glob, json, sys
log, res, reader, rnd = sys.argv[1:]
q = lambda v, p=.5: sorted(v)[int(p * len(v))] if v else float("nan")
# (arrival µs, last piece µs after it); the first 50 requests (start-up) left out
rows = sorted((int(f[1]), float(f[3])) for f in (l.split() for l in open(log)))[50:]
serve = [r[1] for r in rows]
turn = [b[0] - (a[0] + a[1]) for a, b in zip(rows, rows[1:])]
period = [b[0] - a[0] for a, b in zip(rows, rows[1:])]
gap = pre = float("nan")
files = glob.glob(f"{res}/*_individual_responses.json")
if files:
    recs = sorted(json.load(open(files[0])), key=lambda r: r["actual_start_s"])[50:]
    ends = [a["actual_start_s"] + (a["pre_send_s"] or 0) + a["end_to_end_latency_s"] for a in recs]
    gap = 1e6 * q([b["actual_start_s"] - e for e, b in zip(ends, recs[1:])])
    pre = 1e6 * q([r["pre_send_s"] or 0 for r in recs])
name = "raw" if reader == "raw" else reader.rsplit("/", 1)[-1]
print(f"{name:<24} {rnd:>6} {q(serve):>12.0f} {q(turn):>12.0f} {q(period):>12.0f} {gap:>8.0f} {pre:>10.0f}")
PY
  done
done
python3 - "$tmp/rows" <<'PY'
import collections, sys
period = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    f = line.split()
    period[f[0]][f[1]] = float(f[4])
med = lambda v: sorted(v)[len(v) // 2]
for name, rounds in period.items():
    if name == "raw":
        continue
    ratios = [period["raw"][r] / p for r, p in rounds.items() if r in period["raw"]]
    print(f"{name}: period median {med(list(rounds.values())):.0f} us (raw {med(list(period['raw'].values())):.0f}), "
          f"raw/client period, median of {len(ratios)} rounds: {med(ratios):.2f} "
          f"({' '.join(f'{x:.2f}' for x in sorted(ratios))})")
PY
