#!/usr/bin/env bash
# What a CI job runs: the tests (scripts/test.sh), then the quick scenario
# suite end to end (about 75 s), which exits non-zero if any rule fails and
# appends its verdict table to $GITHUB_STEP_SUMMARY when that is set.
# With BENCH_BASELINE=path/to/report.json it also gates throughput against
# that earlier run. Then the same suite with the relay's _bulk sink into
# mockdest's _bulk receiver (--sink elasticsearch, about 85 s); the script
# fails if either did. Last the victorialogs scenario (the relay vs the
# ideal client into a real VictoriaLogs, which scripts/test.sh installed;
# about 25 s), reported but not failing the job: the relay does not yet
# reach its goal of 90 % of the ideal client's rate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test.sh
args=(--quick --out "${BENCH_OUT:-bench-results/ci}")
if [[ -n "${BENCH_BASELINE:-}" ]]; then
	args+=(--baseline "$BENCH_BASELINE")
fi
out=${BENCH_OUT:-bench-results/ci}
status=0
go run ./bench "${args[@]}" || status=$?
go run ./bench --quick --sink elasticsearch --out "$out-elasticsearch" || status=$?
if ! go run ./bench --quick --scenario victorialogs --out "$out-victorialogs"; then
	echo "ci: the victorialogs scenario failed (the relay's goal vs the ideal client; not failing the job)" >&2
fi
exit "$status"
