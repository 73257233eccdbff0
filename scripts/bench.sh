#!/usr/bin/env bash
# Builds the relay, mockdest, loadgen and bench binaries into bin/ and runs
# the scenario suite with the relay as its own process in every scenario
# (mockdest and loadgen run inside the bench, which reads their results
# directly). Extra arguments go to the bench, e.g. --quick.
#
#   scripts/bench.sh [bench flags]
#   scripts/bench.sh --external [bench flags]   # one long-running relay process,
#                                               # tested through --relay-addr/--dest-addr
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-bin}
mkdir -p "$bin"
go build -o "$bin/" ./relay ./mockdest ./loadgen ./bench

if [[ "${1:-}" != "--external" ]]; then
	exec "$bin/bench" --relay-bin "$bin/relay" --relay-process "$@"
fi
shift
listen=127.0.0.1:${RELAY_PORT:-18080} admin=127.0.0.1:${ADMIN_PORT:-16060} dest=127.0.0.1:${DEST_PORT:-19000}
"$bin/relay" --listen "$listen" --admin "$admin" --sink "tcp://$dest" --retry-max 500ms --log-level warn &
relay=$!
trap 'kill -TERM "$relay" 2>/dev/null || true; wait "$relay" || true' EXIT
"$bin/bench" --relay-addr "$listen" --relay-admin "$admin" --relay-pid "$relay" --dest-addr "$dest" "$@"
