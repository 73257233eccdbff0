#!/usr/bin/env bash
# Runs the throughput scenario with the relay as its own process and saves
# its cpu, heap, allocs, goroutine, mutex and block profiles under
# OUT/profiles/ (the pprof commands are printed at the end). With OPEN=1 it
# then opens the CPU profile in pprof's web UI.
#
#   scripts/profile.sh [OUT] [bench flags]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results/profile-$(date +%Y%m%d-%H%M%S)}
shift || true
go run ./bench --scenario throughput --profile --out "$out" "$@"
if [[ -n "${OPEN:-}" ]]; then
	exec go tool pprof -http=127.0.0.1:0 "$out/profiles/relay" "$out/profiles/relay-cpu.pb.gz"
fi
