#!/usr/bin/env bash
# Runs every fuzz target (or those named) under libFuzzer for a set number
# of executions, and prints executions and crashes per target.
#
#   tests/fuzz/run.sh [-n RUNS] [-t SECONDS] [TARGET...]
#
# RUNS (default 10000000) and SECONDS (default 0 = no time limit) bound each
# target; whichever comes first ends it. Needs a nightly toolchain and
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
while getopts "n:t:" o; do
  case $o in
    n) RUNS=$OPTARG ;;
    t) SECONDS_LIMIT=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS] [-t SECONDS] [TARGET...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(ls fuzz_targets | sed 's/\.rs$//')
fi
TOOLCHAIN=+nightly
FLAGS=(--fuzz-dir "$FUZZ_DIR" -O -a -s none)
cargo $TOOLCHAIN fuzz build "${FLAGS[@]}" || { echo "build failed" >&2; exit 2; }
BIN="$FUZZ_DIR/target/$(rustc -vV | sed -n 's/^host: //p')/release"
mkdir -p corpus
status=0
printf '%-16s %12s %8s %7s %s\n' target executions seconds crashes corpus | tee -a corpus/runs.log
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(ls "artifacts/$t" | wc -l)
  log="corpus/$t.log"
  start=$(date +%s)
  # The binary built above, run directly: editing the sources while a long
  # run goes on must not rebuild (and change) the later targets.
  "$BIN/$t" "corpus/$t" "seeds/$t" -artifact_prefix="artifacts/$t/" \
    -runs="$RUNS" -max_total_time="$SECONDS_LIMIT" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(ls "artifacts/$t" | wc -l)
  crashes=$((after - before))
  [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes="rc=$rc"
  [ $rc -ne 0 ] && status=1
  printf '%-16s %12s %8s %7s %s\n' "$t" "${execs:-?}" "$secs" "$crashes" "$(ls "corpus/$t" | wc -l)" | tee -a corpus/runs.log
done
exit $status
