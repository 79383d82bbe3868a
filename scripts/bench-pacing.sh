#!/usr/bin/env bash
# Pacing benchmark: achieved vs target request rate and dispatch lag at 100, 1,000 and 5,000 requests/s,
# against the simulator running as a separate process on loopback (no delay, one output token).
# Prints one line per rate. Not a test: figures depend on the machine; see docs/load-modes.md.
#
# Usage: scripts/bench-pacing.sh [RATES...]   (default: 100 1000 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(100 1000 5000)
cargo build --release --quiet
bin=target/release/llmperf-actors
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve-sim --port "$port" --ttft-ms 0 --itl-ms 0 --output-tokens 1 --workers 1 >/dev/null 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -rf "$out"' EXIT
out=$(mktemp -d)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
printf "%8s %10s %10s %8s %12s %12s %12s %8s\n" "target" "requests" "achieved" "ratio" "lag p50 ms" "lag p99 ms" "lag max ms" "errors"
for rate in "${rates[@]}"; do
  # About 3 s of arrivals (at least 300 requests).
  n=$(python3 -c "print(max(300, int($rate * 3)))")
  OPENAI_API_BASE="http://127.0.0.1:$port/v1" RUST_LOG=error "$bin" --model bench \
    --request-rate "$rate" --arrival constant --max-num-completed-requests "$n" \
    --mean-input-tokens 40 --stddev-input-tokens 0 --mean-output-tokens 1 --stddev-output-tokens 0 \
    --timeout 600 --results-dir "$out/r$rate" >/dev/null
  python3 - "$out/r$rate/bench_40_1_summary.json" "$rate" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); rate = float(sys.argv[2])
a = s["results_achieved_request_rate"]
ms = lambda k: s[k] * 1e3 if s[k] is not None else float("nan")
print(f"{rate:8.0f} {s['results_num_requests_started']:10d} {a:10.1f} {a / rate:8.4f} "
      f"{ms('results_dispatch_delay_s_quantiles_p50'):12.3f} {ms('results_dispatch_delay_s_quantiles_p99'):12.3f} "
      f"{ms('results_max_dispatch_delay_s'):12.3f} {s['results_number_errors']:8d}")
PY
done
