#!/usr/bin/env bash
# Starts and stops a local Redis Cluster for kvstash's Redis remote tier: for
# trying it, for tests (tests/store/redis_cluster_tier_test.cc) and for the
# benchmarks. It never touches the system's redis service: its nodes are
# started from, and stopped by, the PID files in its own directory.
#
# Usage:
#   scripts/redis-cluster.sh start [--dir DIR] [--masters N] [--replicas R]
#       [--port P] [--host ADDR] [--password-file F] [--maxmemory BYTES]
#       [--policy POLICY] [--aof] [--node-timeout MS]
#   scripts/redis-cluster.sh stop [--dir DIR]
#   scripts/redis-cluster.sh status [--dir DIR]
#   scripts/redis-cluster.sh kill [--dir DIR] PORT     kill -9 one node
#   scripts/redis-cluster.sh restart [--dir DIR] PORT  start it again (its
#                     cluster config kept; its data too only with --aof)
#
#   --dir DIR         where each node keeps its files (DIR/<port>/: redis.pid,
#                     redis.log, nodes.conf, data). Default: /tmp/kvstash-redis
#   --masters N       default 3 (Redis Cluster needs at least 3)
#   --replicas R      replicas per master (failover), default 0
#   --port P          first port (nodes take P, P+1, ...; each also uses port
#                     +10000 for the cluster bus). Default: free ports found
#   --host ADDR       address to bind and announce (another host's clients
#                     need a reachable one). Default: 127.0.0.1
#   --password-file F AUTH password (requirepass and masterauth); give kvstash
#                     the same file with --remote-token-file
#   --maxmemory BYTES per node; with --policy allkeys-lru the cluster is an
#                     LRU cache (docs/architecture.md, "Redis Cluster")
#   --policy POLICY   maxmemory-policy, default allkeys-lru
#   --aof             durable: append-only file, fsync every second
#   --node-timeout MS how long a master may be silent before a replica takes
#                     over, default 2000
#
# `start` prints the cluster's address for --remote (redis://HOST:PORT,...)
# and writes it to DIR/address. Exit status: 0, 1 if a node failed to start
# or the cluster did not form (DIR/<port>/redis.log says why), 2 on bad usage.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
dir=/tmp/kvstash-redis
masters=3
replicas=0
port=""
host=127.0.0.1
password_file=""
maxmemory=""
policy=allkeys-lru
aof=0
node_timeout=2000
node_port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?}"; shift ;;
    --masters) masters="${2:?}"; shift ;;
    --replicas) replicas="${2:?}"; shift ;;
    --port) port="${2:?}"; shift ;;
    --host) host="${2:?}"; shift ;;
    --password-file) password_file="${2:?}"; shift ;;
    --maxmemory) maxmemory="${2:?}"; shift ;;
    --policy) policy="${2:?}"; shift ;;
    --aof) aof=1 ;;
    --node-timeout) node_timeout="${2:?}"; shift ;;
    -h | --help) usage ;;
    [0-9]*) node_port="$1" ;;
    *) usage ;;
  esac
  shift
done

stop_nodes() {
  local pids=()
  for pidfile in "$dir"/*/redis.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill "$pid" 2>/dev/null; then pids+=("$pid"); fi
  done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    [ "$alive" -eq 1 ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$dir"/*/redis.pid
}

case "$cmd" in
  stop)
    stop_nodes
    exit 0
    ;;
  status)
    [ -f "$dir/address" ] || { echo "no cluster in $dir" >&2; exit 1; }
    cat "$dir/address"
    for pidfile in "$dir"/*/redis.pid; do
      [ -f "$pidfile" ] || continue
      p="$(basename "$(dirname "$pidfile")")"
      if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$p up"; else echo "$p down"; fi
    done
    exit 0
    ;;
  kill)
    [ -n "$node_port" ] && [ -f "$dir/$node_port/redis.pid" ] || usage
    kill -9 "$(cat "$dir/$node_port/redis.pid")" 2>/dev/null || true
    rm -f "$dir/$node_port/redis.pid"
    exit 0
    ;;
  restart)
    [ -n "$node_port" ] && [ -f "$dir/$node_port/start.sh" ] || usage
    pw="$(sed -n 's/^requirepass "\(.*\)"$/\1/p' "$dir/$node_port/redis.conf")"
    if [ -n "$pw" ]; then export REDISCLI_AUTH="$pw"; fi
    bash "$dir/$node_port/start.sh"
    for _ in $(seq 300); do
      if redis-cli -h "$(cat "$dir/$node_port/host")" -p "$node_port" cluster info 2>/dev/null |
        grep -q 'cluster_state:ok'; then
        exit 0
      fi
      sleep 0.1
    done
    echo "redis-cluster: node $node_port did not rejoin ($dir/$node_port/redis.log)" >&2
    exit 1
    ;;
  start) ;;
  *) usage ;;
esac

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "redis-cluster: $tool not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
nodes=$((masters * (1 + replicas)))
[ "$masters" -ge 3 ] || { echo "redis-cluster: --masters must be at least 3" >&2; exit 2; }

# Ports whose cluster bus port (+10000) is free too.
if [ -z "$port" ]; then
  ports=$(python3 - "$nodes" "$host" <<'PYEOF'
import random, socket, sys
n, host = int(sys.argv[1]), sys.argv[2]
def free(p):
    s = socket.socket()
    try:
        s.bind((host, p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(1000):
    base = random.randrange(30000, 40000 - n)
    if all(free(p) and free(p + 10000) for p in range(base, base + n)):
        print(" ".join(str(p) for p in range(base, base + n)))
        break
else:
    sys.exit("no free ports")
PYEOF
)
else
  ports=$(seq -s ' ' "$port" $((port + nodes - 1)))
fi

password=""
if [ -n "$password_file" ]; then
  password="$(head -n1 "$password_file")"
  export REDISCLI_AUTH="$password"
fi
memory=()
if [ -n "$maxmemory" ]; then memory=(--maxmemory "$maxmemory" --maxmemory-policy "$policy"); fi
durability=(--save "" --appendonly no)
if [ "$aof" -eq 1 ]; then durability=(--save "" --appendonly yes --appendfsync everysec); fi

mkdir -p "$dir"
stop_nodes  # a cluster left in this directory
seeds=()
for p in $ports; do
  d="$dir/$p"
  rm -rf "$d"
  mkdir -p "$d"
  # The password goes in a file only its owner reads, not on a command line.
  (umask 077; : >"$d/redis.conf")
  if [ -n "$password" ]; then
    printf 'requirepass "%s"\nmasterauth "%s"\n' "$password" "$password" >"$d/redis.conf"
  fi
  # Kept so that `restart` starts the node the same way.
  {
    printf 'exec redis-server %q --port %q --bind %q --cluster-announce-ip %q' \
      "$d/redis.conf" "$p" "$host" "$host"
    printf ' %q' --protected-mode no --cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
      --cluster-node-timeout "$node_timeout" --cluster-replica-validity-factor 0 \
      --repl-diskless-sync-delay 0 --dir "$d" --daemonize yes \
      --pidfile "$d/redis.pid" --logfile "$d/redis.log" "${durability[@]}" "${memory[@]}"
    echo
  } >"$d/start.sh"
  echo "$host" >"$d/host"
  bash "$d/start.sh"
  seeds+=("$host:$p")
done
for p in $ports; do
  for _ in $(seq 100); do
    if redis-cli -h "$host" -p "$p" ping 2>/dev/null | grep -q PONG; then continue 2; fi
    sleep 0.1
  done
  echo "redis-cluster: node $p did not start ($dir/$p/redis.log)" >&2
  exit 1
done
if ! redis-cli --cluster create "${seeds[@]}" --cluster-replicas "$replicas" --cluster-yes \
  >"$dir/create.log" 2>&1; then
  echo "redis-cluster: cluster create failed ($dir/create.log)" >&2
  exit 1
fi
for p in $ports; do
  for _ in $(seq 300); do
    if redis-cli -h "$host" -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
      continue 2
    fi
    sleep 0.1
  done
  echo "redis-cluster: node $p never saw the cluster ready" >&2
  exit 1
done
# Replicas are of use once their first sync is done.
for p in $ports; do
  for _ in $(seq 300); do
    role="$(redis-cli -h "$host" -p "$p" info replication 2>/dev/null | tr -d '\r')"
    if grep -q 'role:master' <<<"$role" || grep -q 'master_link_status:up' <<<"$role"; then
      continue 2
    fi
    sleep 0.1
  done
  echo "redis-cluster: replica $p never synced with its master ($dir/$p/redis.log)" >&2
  exit 1
done
address="redis://$(IFS=,; echo "${seeds[*]}")"
echo "$address" >"$dir/address"
echo "$address"
