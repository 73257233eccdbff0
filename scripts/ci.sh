#!/usr/bin/env bash
# What a CI job runs: the tests (scripts/test.sh), then the quick scenario
# suite end to end (under 90 s), which exits non-zero if any rule fails and
# appends its verdict table to $GITHUB_STEP_SUMMARY when that is set.
# With BENCH_BASELINE=path/to/report.json it also gates throughput against
# that earlier run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test.sh
args=(--quick --out "${BENCH_OUT:-bench-results/ci}")
if [[ -n "${BENCH_BASELINE:-}" ]]; then
	args+=(--baseline "$BENCH_BASELINE")
fi
go run ./bench "${args[@]}"
