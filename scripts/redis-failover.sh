#!/usr/bin/env bash
# Kills one Redis Cluster master during a run of requests that share KV
# through the cluster and prints what users would notice: failed requests,
# answers that differ from the no-store answer, misses, and how long until
# hits return. Exit status 0 if no request failed or differed and hits
# returned. Options: scripts/redis-failover.sh --help (docs/soak.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -B scripts/soak/redis_failover.py "$@"
