#!/usr/bin/env bash
# Runs tspserve's GPU checks from a bundle on a machine with NVIDIA GPUs: every gpu-labelled test
# binary in the bundle, then (optionally) a benchmark. Logs and JSON go to OUT.
#
#   deploy/run-gpu-checks.sh BUNDLE_DIR OUT [sanitize] [-- tspserve bench arguments...]
#
# BUNDLE_DIR is what deploy/bundle.sh made from a CUDA build (bin/ holds tspserve and the *_test
# binaries). Tests find checked-in golden data through TSPSERVE_SOURCE_DIR (default: this
# checkout). `sanitize` also runs the kernel tests under compute-sanitizer memcheck and racecheck.
# Environment: TSPSERVE_CHECK_TESTS, the test binaries to run (names, space-separated; default
# every *_test in the bundle; `none` for none); TSPSERVE_CHECK_TIMEOUT, seconds each test or
# sanitizer run may take before it is stopped and counted as failed (default 900).
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUNDLE_DIR OUT [sanitize] [-- bench args...]" >&2
  exit 2
fi
bundle=$(cd "$1" && pwd)
out=$2
shift 2
sanitize=0
if [ "${1:-}" = sanitize ]; then sanitize=1; shift; fi
[ "${1:-}" = -- ] && shift
mkdir -p "$out"
export TSPSERVE_SOURCE_DIR=${TSPSERVE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export NCCL_NVLS_ENABLE=0  # NVLink multicast stays off
nvidia-smi -L | tee "$out/gpus.txt"

limit=${TSPSERVE_CHECK_TIMEOUT:-900}
tests=${TSPSERVE_CHECK_TESTS:-$(cd "$bundle/bin" && ls -- *_test)}
[ "$tests" = none ] && tests=

status=0
for name in $tests; do
  start=$(date +%s)
  timeout "$limit" "$bundle/bin/$name" > "$out/$name.log" 2>&1
  rc=$?
  [ $rc -ne 0 ] && status=1
  echo "$name: exit $rc in $(( $(date +%s) - start )) s; $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/$name.log" | tr '\n' ' ')"
  grep -E "^\[  FAILED  \]|Failure" "$out/$name.log" | head -20
done

if [ $sanitize = 1 ]; then
  for tool in memcheck racecheck; do
    for name in cuda_backend_test cuda_attention_test; do
      # The matrix-product tests run only cuBLASLt, whose split-K kernels (nvjet_*) report races
      # of their own under racecheck, and which racecheck cannot skip (excluding them by name
      # ends in a sanitizer fault): racecheck runs every other test, and ours must have none.
      filter=
      [ $tool = racecheck ] && filter=--gtest_filter=-AwkwardSizes/MatMulTest.*
      timeout "$limit" compute-sanitizer --tool $tool --error-exitcode 9 \
        "$bundle/bin/$name" --gtest_brief=1 $filter > "$out/$name.$tool.log" 2>&1
      rc=$?
      [ $rc -ne 0 ] && status=1
      echo "$tool $name: exit $rc; $(tail -1 "$out/$name.$tool.log")"
    done
  done
fi

if [ $# -gt 0 ]; then
  "$bundle/bin/tspserve" bench "$@" --json "$out/bench.json" 2>"$out/bench.stderr" | tee "$out/bench.txt"
  [ "${PIPESTATUS[0]}" -ne 0 ] && { status=1; tail -20 "$out/bench.stderr"; }
fi
exit $status
