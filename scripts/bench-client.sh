#!/usr/bin/env bash
# Client performance harness (issue 9): capacity against a raw-reader limit, 10,000 concurrent streams,
# timing fidelity against the simulator's own record, and start-up time. The raw reader sends the client's own
# request body (caught once per phase), so the server's work is the same. The simulator runs as a separate
# process (`serve-sim`) on loopback; the CPU time of each process comes from /proc/<pid>/stat and
# /usr/bin/time, so the table says which side saturated. See docs/performance.md for the method.
#
# Usage: scripts/bench-client.sh            full run (a few minutes)
#        SMOKE=1 scripts/bench-client.sh    smallest configuration (a few seconds; run by `cargo test`)
# Environment: BIN (client binary; default: build target/release/llmperf-actors), RAW (raw reader; default:
# build target/release/examples/raw_reader), SECONDS_PER_RUN (capacity runs, default 5), SIM_WORKERS
# (default 1), OUTPUT_TOKENS (capacity runs, default 100), CAP_CONCS (capacity concurrencies, default
# "1 64 1024"), FID_ITL_MS (fidelity runs' chunk gap, default 20),
# CLIENT_ARGS (extra client flags for every run, e.g. --use-server-token-counts), FID_CLOSED=1 (fidelity runs
# as a closed loop of conc requests instead of an open loop), FID_CONCS (fidelity concurrencies, default
# "1 100 1000"), FID_RUNS (runs of each, default 1), FID_PAUSE (seconds between fidelity runs, default 0),
# SIM_NICE (run the simulator under `nice -n SIM_NICE`), SIM_BIN (simulator binary, default BIN: compare
# an older client against the current simulator), SIM_CPUS / CLIENT_CPUS (pin the simulator / both readers with
# `taskset -c`), FLOOR (capacity and fidelity phases: also run the actor floor, `examples/actor_floor.rs`,
# after the raw reader — a path to it, or 1 to build it; FLOOR_ARGS: its extra flags, e.g. --no-sink),
# KEEP=1 (keep the scratch directory), PHASES (any of:
# capacity scale fidelity startup; default all).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=${SMOKE:-0}
if [ -z "${BIN:-}" ] || [ -z "${RAW:-}" ]; then
  cargo build --release --quiet --bin llmperf-actors --example raw_reader
fi
bin=${BIN:-target/release/llmperf-actors}
raw=${RAW:-target/release/examples/raw_reader}
floor=${FLOOR:-}
if [ "$floor" = 1 ]; then
  cargo build --release --quiet --example actor_floor
  floor=target/release/examples/actor_floor
fi
sim_bin=${SIM_BIN:-$bin}
secs=${SECONDS_PER_RUN:-5}
workers=${SIM_WORKERS:-1}
out_tokens=${OUTPUT_TOKENS:-100}
if [ "$smoke" = 1 ]; then secs=1; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
tmp=$(mktemp -d)
sim=""
stop_sim() { if [ -n "$sim" ]; then kill "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true; sim=""; fi; }
trap 'stop_sim; [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
hz=$(getconf CLK_TCK)
phases=" ${PHASES:-capacity scale fidelity startup} "
want() { [[ "$phases" == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_sim ARGS...: starts the simulator on a free port, sets $port and $sim.
start_sim() {
  port=$(free_port)
  ${SIM_CPUS:+taskset -c "$SIM_CPUS"} ${SIM_NICE:+nice -n "$SIM_NICE"} "$sim_bin" serve-sim --port "$port" --workers "$workers" "$@" >/dev/null 2>&1 &
  sim=$!
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null && return; sleep 0.05; done
  echo "simulator did not start" >&2; exit 1
}
sim_cpu() { awk -v hz="$hz" '{printf "%.3f", ($14 + $15) / hz}' /proc/"$sim"/stat; }
client() { # client C N|duration RESULTS_DIR EXTRA...: runs the client against $port under /usr/bin/time
  local c=$1 n=$2 dir=$3; shift 3
  /usr/bin/time -f "%U %S %M %e" -o "$dir.time" env RUST_LOG=error OPENAI_API_BASE="http://127.0.0.1:$port/v1" \
    ${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} "$bin" --model bench --mean-input-tokens 30 --stddev-input-tokens 0 --stddev-output-tokens 0 \
    --num-concurrent-requests "$c" --max-num-completed-requests "$n" --results-dir "$dir" --quiet --no-charts \
    --no-csv --timeout 600 ${CLIENT_ARGS:-} "$@" > "$dir.stdout" 2>&1 || { echo "client failed:"; cat "$dir.stdout"; exit 1; }
}

echo "# llmperf-actors client benchmark — $(date -u +%FT%TZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# simulator: separate process, --workers $workers; capacity runs: ${secs} s each, $out_tokens output tokens, 1 token per chunk, no delays"

# client_body OUT_TOKENS FILE: the client's own request body for these settings, caught by a one-shot listener
# that answers 503. The raw reader sends it too (`--body`), so the simulator does the same work for both
# readers: the same prompt to count, the same usage chunk to send.
client_body() {
  rm -f "$2" "$2.port"
  python3 scripts/catch-body.py "$2" &
  local catcher=$!
  for _ in $(seq 200); do [ -s "$2.port" ] && break; sleep 0.05; done
  env RUST_LOG=off OPENAI_API_BASE="http://127.0.0.1:$(cat "$2.port")/v1" "$bin" --model bench --mean-input-tokens 30 \
    --stddev-input-tokens 0 --stddev-output-tokens 0 --mean-output-tokens "$1" --num-concurrent-requests 1 \
    --max-num-completed-requests 1 --results-dir "$tmp/body" --quiet --no-charts --no-csv --timeout 30 \
    ${CLIENT_ARGS:-} > /dev/null 2>&1 || true
  wait "$catcher" || { echo "could not catch the client's request body" >&2; exit 1; }
}

# 1 + 2. Capacity: the raw reader, the actor floor (FLOOR), then the client, at each concurrency.
concs=(${CAP_CONCS:-1 64 1024}); [ "$smoke" = 1 ] && concs=(1); want capacity || concs=()
want capacity && echo
want capacity && echo "## Capacity (zero server delay, one token per chunk)"
want capacity && printf "%-8s %6s %10s %12s %10s %10s %8s %7s %9s %s\n" reader conc "req/s" "tokens/s" "cli CPU%" "sim CPU%" errors "vs raw" "us/chunk" saturated
want capacity && client_body "$out_tokens" "$tmp/body$out_tokens.json"
for c in "${concs[@]}"; do
  start_sim --ttft-ms 0 --itl-ms 0 --output-tokens "$out_tokens"
  # Raw reader first: its rate sizes the client's request count (about $secs seconds of work).
  s0=$(sim_cpu)
  ${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} /usr/bin/time -f "%U %S %M %e" -o "$tmp/raw$c.time" "$raw" "127.0.0.1:$port" "$c" "$secs" "$out_tokens" --body "$tmp/body$out_tokens.json" > "$tmp/raw$c.out"
  s1=$(sim_cpu)
  rm -f "$tmp/floor$c.out"
  if [ -n "$floor" ]; then
    f0=$(sim_cpu)
    ${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} /usr/bin/time -f "%U %S %M %e" -o "$tmp/floor$c.time" "$floor" "127.0.0.1:$port" "$c" "$secs" "$out_tokens" --body "$tmp/body$out_tokens.json" ${FLOOR_ARGS:-} > "$tmp/floor$c.out"
    echo "$f0 $(sim_cpu)" > "$tmp/floor$c.sim"
  fi
  d="$tmp/cap$c"
  raw_rate=$(python3 -c "import re;t=open('$tmp/raw$c.out').read();print(int(re.search(r'requests=(\d+)',t)[1])/float(re.search(r'elapsed_s=([\d.]+)',t)[1]))")
  n=$(python3 -c "print(max($c * 4, int($raw_rate * $secs * 0.6)))")
  s2=$(sim_cpu)
  client "$c" "$n" "$d" --mean-output-tokens "$out_tokens"
  s3=$(sim_cpu)
  stop_sim
  python3 - "$tmp" "$c" "$out_tokens" "$s0" "$s1" "$s2" "$s3" "$workers" <<'PY'
import json, re, sys, glob
tmp, c, tok, s0, s1, s2, s3, workers = sys.argv[1:]
c, tok, workers = int(c), int(tok), int(workers)
def times(p):
    u, s, m, e = open(p).read().split()[-4:]
    return float(u) + float(s), int(m), float(e)
raw = open(f"{tmp}/raw{c}.out").read()
rq = int(re.search(r"requests=(\d+)", raw)[1]); el = float(re.search(r"elapsed_s=([\d.]+)", raw)[1])
rerr = int(re.search(r"errors=(\d+)", raw)[1])
rcpu, _, rwall = times(f"{tmp}/raw{c}.time")
scpu_raw = float(s1) - float(s0)
s = json.load(open(glob.glob(f"{tmp}/cap{c}/*_summary.json")[0]))
cn = s["results_num_completed_requests"]; ce = s["results_elapsed_s"]
ccpu, _, cwall = times(f"{tmp}/cap{c}.time")
scpu_cli = float(s3) - float(s2)
def sat(own, own_wall, sim, sim_wall):
    o, si = own / own_wall, sim / sim_wall
    if si >= 0.9 * workers: return "simulator"
    if o + si >= 0.9 * 2: return "cores (shared)"
    return "neither"
raw_tps = rq * tok / el; cli_tps = cn * tok / ce
# CPU per streamed chunk: the reader's whole process (user + system; the client's start-up and result files
# included) over the chunks it read.
us_raw = 1e6 * rcpu / max(1, rq * tok); us_cli = 1e6 * ccpu / max(1, cn * tok)
print(f"{'raw':<8} {c:>6} {rq/el:>10.0f} {raw_tps:>12.0f} {100*rcpu/rwall:>9.0f}% {100*scpu_raw/el:>9.0f}% {rerr:>8} {'1.00':>7} {us_raw:>9.2f} {sat(rcpu, rwall, scpu_raw, el)}")
try:
    fl = open(f"{tmp}/floor{c}.out").read()
except FileNotFoundError:
    fl = None
if fl is not None:
    fq = int(re.search(r"requests=(\d+)", fl)[1]); fel = float(re.search(r"elapsed_s=([\d.]+)", fl)[1])
    ferr = int(re.search(r"errors=(\d+)", fl)[1])
    if int(re.search(r"delivered=(\d+)", fl)[1]) != fq:
        sys.exit(f"actor floor: the sink did not receive every result: {fl.strip()}")
    fcpu, _, fwall = times(f"{tmp}/floor{c}.time")
    f0, f1 = map(float, open(f"{tmp}/floor{c}.sim").read().split())
    ftps = fq * tok / fel
    print(f"{'floor':<8} {c:>6} {fq/fel:>10.0f} {ftps:>12.0f} {100*fcpu/fwall:>9.0f}% {100*(f1-f0)/fel:>9.0f}% {ferr:>8} {ftps/raw_tps:>7.2f} {1e6*fcpu/max(1, fq*tok):>9.2f} {sat(fcpu, fwall, f1-f0, fel)}")
print(f"{'client':<8} {c:>6} {cn/ce:>10.0f} {cli_tps:>12.0f} {100*ccpu/cwall:>9.0f}% {100*scpu_cli/cwall:>9.0f}% {s['results_number_errors']:>8} {cli_tps/raw_tps:>7.2f} {us_cli:>9.2f} {sat(ccpu, cwall, scpu_cli, cwall)}")
PY
done

# 3. Scale: 10,000 concurrent streams held open by a slow server.
if [ "$smoke" = 1 ]; then scale=50 ttft=300 itl=50; else scale=10000 ttft=3000 itl=500; fi
if want scale; then
echo
echo "## Scale: $scale concurrent streams (time to first token $ttft ms, 10 chunks $itl ms apart)"
start_sim --ttft-ms "$ttft" --itl-ms "$itl" --output-tokens 10
( peak=0; while kill -0 "$sim" 2>/dev/null; do
    n=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l)
    [ "$n" -gt "$peak" ] && peak=$n && echo "$peak" > "$tmp/peak"; sleep 0.5; done ) &
watcher=$!
client "$scale" "$scale" "$tmp/scale" --mean-output-tokens 10 --connect-timeout 60
sim_rss=$(awk '/VmHWM/ {print $2}' /proc/"$sim"/status)
stop_sim; wait "$watcher" 2>/dev/null || true
python3 - "$tmp" "$scale" "$sim_rss" <<'PY'
import json, sys, glob
tmp, n, sim_rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u, s_, m, e = open(f"{tmp}/scale.time").read().split()[-4:]
s = json.load(open(glob.glob(f"{tmp}/scale/*_summary.json")[0]))
try: peak = int(open(f"{tmp}/peak").read())
except OSError: peak = 0
print(f"{'streams':>8} {'peak open':>10} {'completed':>10} {'errors':>7} {'client RSS MiB':>15} {'sim RSS MiB':>12} {'wall s':>7} {'client CPU s':>13}")
print(f"{n:>8} {peak:>10} {s['results_num_completed_requests']:>10} {s['results_number_errors']:>7} {int(m)/1024:>15.1f} {sim_rss/1024:>12.1f} {float(e):>7.1f} {float(u)+float(s_):>13.2f}")
PY
fi

# 4. Timing fidelity: the client's TTFT and inter-token latency vs the simulator's record of the same requests,
# then the raw reader's (a closed loop of conc connections, its clock started just before each write) on a fresh
# simulator with the same settings: the bar for the client's figures, measured in the same run. With FLOOR, the
# actor floor's too (the same closed loop and clock, from actors over async sockets).
fconcs=(${FID_CONCS:-1 100 1000}); [ "$smoke" = 1 ] && fconcs=(1); want fidelity || fconcs=()
want fidelity && echo
want fidelity && echo "## Timing fidelity (TTFT 50 ms, 20 chunks ${FID_ITL_MS:-20} ms apart; client: $([ "${FID_CLOSED:-0}" = 1 ] && echo "closed loop" || echo "open loop at conc / request duration"), raw: closed loop; error = reader − simulator, per request; requests that opened a connection excluded)"
want fidelity && printf "%-7s %6s %9s %9s %12s %12s %12s %12s %12s %12s %9s %9s %9s %12s\n" reader conc requests "new conn" "TTFT p50 ms" "TTFT p99 ms" "p99 w/ conn" "new conn p50" "ITL p50 ms" "ITL p99 ms" "rdr CPU%" "sim CPU%" "us/chunk" "connect p50"
# fidelity_row READER CONC LOG TIMES S0 S1 ELAPSED RECORDS SENT: one row of the table. RECORDS: a file of
# `start ttft_ms e2e_ms` lines, one per successful request, in any order; SENT: requests sent in all. The
# us/chunk column is the reader's CPU (whole process, as in the capacity table) over SENT × 20 content
# chunks: here the chunks come 20 ms apart, so each read holds one or two of them, as from a real server.
# A RECORDS line may have a fourth field, the request's connect time in ms when it opened a connection (the
# client's `connect_s`; the raw reader does not time its connects): "connect p50" is their median, the
# allowance in issue 20's bar for the first wave (new conn p50 at most connect p50 + 1 ms above TTFT p50).
fidelity_row() {
  python3 - "$@" <<'PY'
import sys
reader, c, log, times, s0, s1, elapsed, records, sent = sys.argv[1:]
c, s0, s1, elapsed = int(c), float(s0), float(s1), float(elapsed)
rows = [tuple(map(float, l.split())) for l in open(records)]
recs = sorted(r[:3] for r in rows)
connects = [r[3] for r in rows if len(r) > 3 and r[3] >= 0]
sim = sorted((l.split() for l in open(log)), key=lambda f: int(f[1]))
# Pair by order: the k-th request the reader started with the k-th the simulator received. Requests that
# opened a connection (column 6, requests served earlier on it, is 0) are left out: connecting is not part of
# the simulator's record. They are the first c, and a few more whenever a request starts just before a
# finishing one hands its connection back.
te, ie, te_all, te_new = [], [], [], []
fresh = 0
for k, ((_, ttft, e2e), f) in enumerate(zip(recs, sim)):
    # Also kept: every request after the first c, new connections included.
    if k >= c:
        te_all.append(ttft - float(f[2]) / 1e3)
    if f[5] == "0":
        fresh += 1
        te_new.append(ttft - float(f[2]) / 1e3)
        continue
    first_us, last_us, items = float(f[2]), float(f[3]), int(f[4])
    te.append(ttft - first_us / 1e3)
    gaps = items - 2  # item 0 is the role chunk; items 1.. are the content pieces
    if gaps > 0:
        ie.append((e2e - ttft) / gaps - (last_us - first_us) / 1e3 / gaps)
def q(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")
u, s_, m, e = open(times).read().split()[-4:]
print(f"{reader:<7} {c:>6} {len(te):>9} {fresh:>9} {q(te, .5):>12.3f} {q(te, .99):>12.3f} {q(te_all, .99):>12.3f} {q(te_new, .5):>12.3f} {q(ie, .5):>12.4f} {q(ie, .99):>12.4f} "
      f"{100*(float(u)+float(s_))/float(e):>8.0f}% {100*(s1-s0)/elapsed:>8.0f}% {1e6*(float(u)+float(s_))/(int(sent)*20):>9.2f} "
      f"{(f'{q(connects, .5):.3f}' if connects else '-'):>12}")
PY
}
# bar_fidelity NAME READER CONC N EXTRA...: a bar reader (raw reader, actor floor) in a closed loop of CONC
# connections, N requests, against a fresh simulator; its row of the table.
bar_fidelity() {
  local name=$1 reader=$2 c=$3 n=$4; shift 4
  local rlog="$tmp/${name}timing$c.log" f="$tmp/${name}fid$c"; : > "$rlog"
  start_sim --ttft-ms 50 --itl-ms "${FID_ITL_MS:-20}" --output-tokens 20 --timing-log "$rlog"
  local s0; s0=$(sim_cpu)
  /usr/bin/time -f "%U %S %M %e" -o "$f.time" "$reader" "127.0.0.1:$port" "$c" 600 20 \
    --body "$tmp/body20.json" --requests "$n" --timings "$f.timings" "$@" > "$f.out"
  local s1; s1=$(sim_cpu)
  stop_sim
  awk '$2 >= 0 { print $1, $2 / 1e3, $3 / 1e3 }' "$f.timings" > "$f.records"
  fidelity_row "$name" "$c" "$rlog" "$f.time" "$s0" "$s1" "$(sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' "$f.out")" "$f.records" "$n"
}
want fidelity && client_body 20 "$tmp/body20.json"
for c in "${fconcs[@]}"; do for _rep in $(seq "${FID_RUNS:-1}"); do
  sync; sleep "${FID_PAUSE:-0}"
  n=$((c * 5)); [ "$n" -lt 100 ] && n=100; [ "$smoke" = 1 ] && n=20
  # (n counts the first c requests, which are not in the statistics)
  log="$tmp/timing$c.log"; : > "$log"
  start_sim --ttft-ms 50 --itl-ms "${FID_ITL_MS:-20}" --output-tokens 20 --timing-log "$log"
  s0=$(sim_cpu)
  if [ "${FID_CLOSED:-0}" = 1 ]; then
    client "$c" "$n" "$tmp/fid$c" --mean-output-tokens 20
  else
    # Open loop at the rate that keeps c requests in flight (each lasts ttft + 19 gaps), so arrivals are spread
    # evenly instead of the closed loop's synchronised rounds of c requests.
    rate=$(python3 -c "print($c / ((50 + 19 * ${FID_ITL_MS:-20}) / 1000))")
    # Room for 2 × conc, so the cap never queues a request when a few more than conc overlap.
    client "$((c * 2))" "$n" "$tmp/fid$c" --mean-output-tokens 20 --request-rate "$rate" --arrival constant
  fi
  s1=$(sim_cpu)
  stop_sim
  python3 - "$tmp/fid$c" > "$tmp/fid$c.records" <<'PY'
import json, sys, glob
d = sys.argv[1]
for r in json.load(open(glob.glob(f"{d}/*_individual_responses.json")[0])):
    if r["error_code"] is None:
        c = r.get("connect_s")
        print(r["actual_start_s"], r["ttft_s"] * 1e3, r["end_to_end_latency_s"] * 1e3, -1 if c is None else c * 1e3)
PY
  elapsed=$(python3 -c "import json,glob;print(json.load(open(glob.glob('$tmp/fid$c/*_summary.json')[0]))['results_elapsed_s'])")
  fidelity_row client "$c" "$log" "$tmp/fid$c.time" "$s0" "$s1" "$elapsed" "$tmp/fid$c.records" "$n"
  # The raw reader (and the actor floor, with FLOOR) against a fresh simulator with the same settings.
  bar_fidelity raw "$raw" "$c" "$n"
  if [ -n "$floor" ]; then bar_fidelity floor "$floor" "$c" "$n" ${FLOOR_ARGS:-}; fi
done; done

# 5. Start-up: process start to the first request's arrival at the simulator.
runs=5; [ "$smoke" = 1 ] && runs=1
if want startup; then
echo
echo "## Start-up (process start to first request received by the simulator; $runs runs)"
log="$tmp/startup.log"
start_sim --ttft-ms 0 --itl-ms 0 --output-tokens 1 --timing-log "$log"
for i in $(seq "$runs"); do
  : > "$log"
  t0=$(date +%s%6N)
  client 1 1 "$tmp/start$i" --mean-output-tokens 1
  echo "$t0 $(head -1 "$log" | cut -d' ' -f2)" >> "$tmp/startups"
done
stop_sim
python3 - "$tmp/startups" <<'PY'
import sys
ms = sorted((int(b) - int(a)) / 1e3 for a, b in (l.split() for l in open(sys.argv[1])))
print(f"{'runs':>5} {'min ms':>8} {'median ms':>10} {'max ms':>8}")
print(f"{len(ms):>5} {ms[0]:>8.1f} {ms[len(ms)//2]:>10.1f} {ms[-1]:>8.1f}")
PY
fi
echo
echo "# done — load: $(cut -d' ' -f1-3 /proc/loadavg)"
