#!/usr/bin/env bash
# Runs every fuzz target (or those named) under libFuzzer for a set number
# of executions, and prints executions and crashes per target.
#
#   tests/fuzz/run.sh [-n RUNS] [-t SECONDS] [-j JOBS] [-c] [TARGET...]
#
# RUNS (default 10000000) and SECONDS (default 0 = no time limit) bound each
# target; whichever comes first ends it. JOBS (default 1) targets run at
# once. Inputs are at most 4 KiB (the targets cap lines at 1 KiB, so the
# over-the-cap path is still reached). -c builds with libFuzzer's
# comparison tracing (trace-compares): it finds magic values faster but
# runs the text decoders 3-5x slower, because every comparison in the
# template matcher calls a hook; use it to grow a corpus, and the default
# build to run the 10 M executions over that corpus. Needs a nightly toolchain and
# `cargo install cargo-fuzz`. Targets are built with debug assertions
# (overflow checks) and without a sanitizer: the crate forbids unsafe code,
# so what we look for are panics, overflows, hangs and broken invariants.
#
# Working corpora grow in tests/fuzz/corpus/<target> (not checked in; the
# checked-in seeds are tests/fuzz/seeds/<target>). Crashes land in
# tests/fuzz/artifacts/<target>/; turn each into a test in
# tests/regressions.rs. The summary is appended to tests/fuzz/corpus/runs.log.
set -uo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
RUNS=10000000
SECONDS_LIMIT=0
JOBS=1
COMPARES=(--no-trace-compares)
while getopts "n:t:j:c" o; do
  case $o in
    n) RUNS=$OPTARG ;;
    t) SECONDS_LIMIT=$OPTARG ;;
    j) JOBS=$OPTARG ;;
    c) COMPARES=() ;;
    *) echo "usage: $0 [-n RUNS] [-t SECONDS] [-j JOBS] [-c] [TARGET...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(ls fuzz_targets | sed 's/\.rs$//')
fi
TOOLCHAIN=+nightly
FLAGS=(--fuzz-dir "$FUZZ_DIR" -O -a -s none "${COMPARES[@]}")
cargo $TOOLCHAIN fuzz build "${FLAGS[@]}" || { echo "build failed" >&2; exit 2; }
BUILT="$FUZZ_DIR/target/$(rustc -vV | sed -n 's/^host: //p')/release"
# A copy of the binaries: a later `cargo fuzz build` (or a test build of the
# regressions) during a long run must not change the targets still to run.
BIN="$FUZZ_DIR/corpus/.bin.$$"
mkdir -p "$BIN"
for t in "${TARGETS[@]}"; do cp "$BUILT/$t" "$BIN/$t" || exit 2; done
trap 'rm -rf "$BIN"' EXIT
status=0
printf '%-16s %12s %8s %7s %s\n' target executions seconds crashes corpus | tee -a corpus/runs.log

# One target; its summary line goes to runs.log. The exit status is
# libFuzzer's (non-zero when it found a crash or leak or timed out).
run_target() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  local before after start secs execs crashes rc log="corpus/$t.log"
  before=$(ls "artifacts/$t" | wc -l)
  start=$(date +%s)
  "$BIN/$t" "corpus/$t" "seeds/$t" -artifact_prefix="artifacts/$t/" \
    -runs="$RUNS" -max_total_time="$SECONDS_LIMIT" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(ls "artifacts/$t" | wc -l)
  crashes=$((after - before))
  [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes="rc=$rc"
  printf '%-16s %12s %8s %7s %s\n' "$t" "${execs:-?}" "$secs" "$crashes" "$(ls "corpus/$t" | wc -l)" | tee -a corpus/runs.log
  return $rc
}

mkdir -p corpus
running=0
for t in "${TARGETS[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
