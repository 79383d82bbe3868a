#!/usr/bin/env bash
# Runs the whole test suite again and again with both cores busy, to find tests that flake (issue 15: "a
# flaky test is a bug to fix, not to re-run"). Done when 30 runs in a row pass.
#
# The load: two busy loops (`while :; do :; done`, one bash process each) started once after the build and
# kept running for all runs, at the script's own niceness (0 unless you start the script niced; the tests run
# at the same niceness, so each busy loop weighs as much as one test thread). On a two-core machine the
# scheduler then shares both cores between the loops and the tests: every test process runs at about half
# speed, and any runnable thread may wait a scheduler slice (several ms) before it runs. The loops are killed
# on exit, whatever the exit (trap on EXIT, INT and TERM).
#
# Usage: scripts/stress-tests.sh [CARGO TEST ARGS...]   (default: --no-fail-fast, so one failing test binary
#        does not hide the others)
# Environment: RUNS (default 30), HOGS (busy loops, default 2), LOG_DIR (default target/stress/<date>),
#        RUN_TIMEOUT (seconds before a run counts as hung and is killed, default 1800), CARGO_TARGET_DIR.
#
# Each run's output goes to LOG_DIR/run-NN.log. The script keeps going whatever fails, then prints how many
# runs passed and which tests failed how often (binary and test name, from cargo's "Running ..." and
# "test ... FAILED" lines; a run that failed without one, e.g. a hang or a crash, is named as such).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-30}
hogs=${HOGS:-2}
timeout_s=${RUN_TIMEOUT:-1800}
log_dir=${LOG_DIR:-target/stress/$(date +%Y%m%d-%H%M%S)}
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--no-fail-fast)
mkdir -p "$log_dir"

echo "building the tests once (cargo test --no-run ${args[*]})"
if ! cargo test --no-run "${args[@]}" >"$log_dir/build.log" 2>&1; then
  tail -30 "$log_dir/build.log"
  echo "build failed; see $log_dir/build.log" >&2
  exit 2
fi

hog_pids=()
stop_hogs() {
  for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null; done
  wait "${hog_pids[@]}" 2>/dev/null
  hog_pids=()
}
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM
for _ in $(seq "$hogs"); do
  bash -c 'while :; do :; done' &
  hog_pids+=($!)
done
echo "load: $hogs busy loops (pids ${hog_pids[*]}) at niceness $(nice); $(nproc) cores"
echo "logs: $log_dir"

passed=0
for i in $(seq -f %02g "$runs"); do
  log="$log_dir/run-$i.log"
  {
    echo "# run $i of $runs; $hogs busy loops; $(uptime)"
    echo "# cargo test ${args[*]}"
  } >"$log"
  start=$(date +%s)
  timeout --kill-after=30 "$timeout_s" cargo test "${args[@]}" >>"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  echo "# exit $rc after ${took}s" >>"$log"
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "run $i: passed (${took}s)"
  else
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "(hung: killed after ${timeout_s}s)" >>"$log"
    echo "run $i: FAILED, exit $rc (${took}s): $(grep -c ' \.\.\. FAILED$' "$log") failing tests; $log"
  fi
done
stop_hogs

echo
echo "$passed of $runs runs passed (load: $hogs busy loops at niceness $(nice), $(nproc) cores)"
# Failing tests, named by their binary ("Running tests/x.rs (...)", "Doc-tests ..."), with how often.
awk '
  /^ *Running / { bin = $2 }
  /^ *Doc-tests / { bin = "doc:" $2 }
  / \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); n[bin " " $0]++; named[FILENAME] = 1 }
  /^# exit [1-9]/ { failed[FILENAME] = 1 }
  /^\(hung/ { hung[FILENAME] = 1 }
  END {
    for (t in n) printf "%4d  %s\n", n[t], t
    for (f in failed) if (!(f in named)) printf "   -  %s failed without a failing test line%s\n", f, (f in hung) ? " (hung)" : ""
  }
' "$log_dir"/run-*.log | sort -rn
[ "$passed" -eq "$runs" ]
