#!/usr/bin/env bash
# The sink comparison in one command: installs VictoriaLogs (cached under
# ~/.cache/logrelay/bin; scripts/install-victorialogs.sh), builds the relay
# and the bench into bin/, and runs "bench compare-sinks": the same workload
# through every sink (tcp, _bulk and file into mockdest or a file,
# _bulk into a VictoriaLogs node and a cluster) and the ceilings (the bare
# TCP pipe, the ideal client into VictoriaLogs), interleaved by replicate.
# It prints the table and writes compare.json, compare.md and compare.html.
# Extra arguments go to the bench, e.g.
#
#   scripts/compare-sinks.sh
#   scripts/compare-sinks.sh --batch-size 100,1000 --sink-concurrency 1,2,4
#   scripts/compare-sinks.sh --rows '_bulk → VictoriaLogs,ideal → VictoriaLogs' --replicates 5
set -euo pipefail
cd "$(dirname "$0")/.."
LOGRELAY_VICTORIALOGS="$(scripts/install-victorialogs.sh)"
export LOGRELAY_VICTORIALOGS
bin=${BIN:-bin}
mkdir -p "$bin"
go build -o "$bin/" ./relay ./bench
exec "$bin/bench" compare-sinks --relay-bin "$bin/relay" "$@"
