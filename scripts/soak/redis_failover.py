"""scripts/redis-failover.sh: kill one Redis Cluster master during a run of
requests that share KV through the cluster, and count what users notice
(docs/soak.md, "Redis failover").

Each request is a new `kvstash run --store none --remote redis://...`
process (device memory plus the cluster, nothing kept between requests), so
every request reaches the cluster. The campaign checks that no request fails,
that every answer (greedy tokens) equals the no-store answer, and measures
the misses while the master is down and how long until hits return (a
replica promoted).
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import log, machine, make_model, parse_json, print_table, run_kvstash  # noqa: E402
from common import write_ids  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.path.join(ROOT, "scripts", "redis-cluster.sh")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="scripts/redis-failover.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=100, help="requests in the run (default 100)")
    p.add_argument("--kill-at", type=int, default=20,
                   help="kill a master after this many requests (default 20)")
    p.add_argument("--prompts", type=int, default=5, help="distinct prompts (default 5)")
    p.add_argument("--prompt-tokens", type=int, default=200, help="tokens per prompt (default 200)")
    p.add_argument("--node-timeout", type=int, default=2000,
                   help="cluster-node-timeout, ms (default 2000)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--kvstash", default=os.environ.get("KVSTASH",
                                                       os.path.join(ROOT, "build", "tools", "kvstash")))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = int(time.time() * 1000) % 1000000
    return a


def cluster(*args):
    return subprocess.run([CLUSTER] + list(args), check=True, capture_output=True,
                          text=True).stdout.strip()


def main(argv):
    a = parse_args(argv)
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="kvstash-failover-")
    cluster_dir = os.path.join(work, "cluster")
    log("redis failover: seed %d, work dir %s; %s" % (a.seed, work, machine()))
    try:
        make_model(a.kvstash, os.path.join(work, "model"))
        address = cluster("start", "--dir", cluster_dir, "--replicas", "1", "--node-timeout",
                          str(a.node_timeout))
        ports = [int(n.rsplit(":", 1)[1]) for n in address[len("redis://"):].split(",")]
        prompts = []
        for i in range(a.prompts):
            path = os.path.join(work, "p%d.ids" % i)
            write_ids(path, [rng.randint(10, 250) for _ in range(a.prompt_tokens)])
            prompts.append(path)

        def run(prompt, remote):
            args = ["run", "--model", os.path.join(work, "model"), "--prompt-ids", prompt,
                    "--max-new-tokens", "8", "--block-tokens", "16", "--json", "--threads", "1"]
            args += ["--store", "none", "--remote", remote] if remote else ["--no-store"]
            rc, out, err, secs = run_kvstash(a.kvstash, args, timeout=120)
            return rc, parse_json(out) if rc == 0 else None, err, secs

        expected = {}
        for p in prompts:
            rc, j, err, _ = run(p, None)
            if rc != 0:
                raise SystemExit("redis failover: cold run failed: %s" % err.strip())
            expected[p] = j["tokens"]
            rc, j, err, _ = run(p, address)  # fills the cluster
            if rc != 0:
                raise SystemExit("redis failover: first run failed: %s" % err.strip())
        time.sleep(1)  # replication to the replicas is asynchronous

        failed = wrong = 0
        full_before = requests_before = 0
        misses_after = hits_after = 0
        missed_tokens = 0
        killed_at = None
        first_hit_after = None
        latencies = []
        masters = [port for port in ports if "role:master" in subprocess.run(
            ["redis-cli", "-p", str(port), "info", "replication"], capture_output=True,
            text=True).stdout]
        victim = masters[rng.randrange(len(masters))]
        for r in range(a.requests):
            if r == a.kill_at:
                cluster("kill", "--dir", cluster_dir, str(victim))
                killed_at = time.monotonic()
                log("killed master %d after %d requests" % (victim, r))
            p = prompts[r % len(prompts)]
            rc, j, err, secs = run(p, address)
            latencies.append(secs)
            if rc != 0 or j is None:
                failed += 1
                log("request %d failed: %s" % (r, err.strip()[-300:]))
                continue
            if j["tokens"] != expected[p]:
                wrong += 1
                log("request %d: tokens differ from the no-store answer" % r)
            full = j["reused_from"]["remote"] == j["prompt_tokens"]
            if killed_at is None:
                requests_before += 1
                full_before += full
            elif full:
                hits_after += 1
                if first_hit_after is None and misses_after > 0:
                    first_hit_after = time.monotonic() - killed_at
            else:
                misses_after += 1
                missed_tokens += j["prompt_tokens"] - j["reused_from"]["remote"]
        latencies.sort()
        print_table("redis failover: %d requests, master %d killed after %d (%s)" %
                    (a.requests, victim, a.kill_at, machine()), [
            ("requests failed", failed),
            ("answers that differ from the no-store answer", wrong),
            ("before the kill: full hits", "%d of %d" % (full_before, requests_before)),
            ("after: requests with misses", "%d (%d tokens prefilled again)" %
             (misses_after, missed_tokens)),
            ("after: full hits", hits_after),
            ("seconds from the kill to the first full hit after a miss",
             "%.1f" % first_hit_after if first_hit_after is not None else "none"),
            ("request seconds: median / max", "%.2f / %.2f" %
             (latencies[len(latencies) // 2], latencies[-1])),
        ])
        ok = failed == 0 and wrong == 0 and hits_after > 0
        return 0 if ok else 1
    finally:
        subprocess.run([CLUSTER, "stop", "--dir", cluster_dir], capture_output=True)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
