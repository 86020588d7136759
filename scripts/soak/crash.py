"""soak crash: kill -9 `kvstash run` while it writes; nothing acknowledged may be lost.

A prompt is acknowledged when a `kvstash run --json` that stored it printed its
JSON: the CLI prints it only after Close() returned OK, and Close() flushes
(store/store.h: a block is durable once a later Flush() returned OK). Every
later run of a prompt Q must then reuse at least max(LCP(P, Q)) tokens over
the acknowledged prompts P (the partial-block rules of Match reuse up to the
divergence), and `kvstash verify` must be clean after every kill.
"""

import os
import shutil
import subprocess
import time

from common import (Violation, describe_rc, lcp, log, mib, parse_json, random_tokens, rng_for,
                    run_kvstash, run_lanes, write_ids)

MAX_PROMPT = 1500
NEW_TOKENS = 4


class Lane:
    def __init__(self, campaign, index, root, model):
        self.c = campaign
        self.index = index
        self.dir = os.path.join(root, "lane%d" % index)
        os.makedirs(self.dir)
        self.store = os.path.join(self.dir, "store")
        self.model = model
        # Lanes differ in block size: 64 (the default) and 16 (more blocks,
        # more partial tails, more child links per prompt).
        self.block_tokens = 64 if index % 2 == 0 else 16
        self.rng = rng_for(campaign.seed, "crash", index)
        self.acked = []  # acknowledged prompts, oldest first
        self.acked_set = set()
        self.samples = []  # (prompt tokens, seconds) of whole runs, the latest 40
        self.open_samples = []  # (prompt tokens, seconds from store open to exit)
        self.max_prompt = MAX_PROMPT if self.block_tokens >= 64 else MAX_PROMPT // 2
        self.rr = 0

    def run_args(self, ids_file):
        return ["run", "--model", self.model, "--store", self.store, "--prompt-ids", ids_file,
                "--max-new-tokens", str(NEW_TOKENS), "--block-tokens", str(self.block_tokens),
                "--json"]

    def repro(self, cycle, extra=""):
        return ("%s --lanes %d (lane %d, cycle %d); store kept in %s%s" %
                (self.c.repro_prefix(), self.c.args.lanes, self.index, cycle, self.store, extra))

    def expected(self, q):
        """The fewest tokens a run of `q` must reuse, and the prompt that says so."""
        best, who = 0, None
        for p in self.acked:
            n = lcp(p, q)
            if n > best:
                best, who = n, p
        return best, who

    def pick_parent(self):
        if self.rng.random() < 0.5:
            return self.rng.choice(self.acked[-10:])
        return self.rng.choice(self.acked)

    def derive(self, a):
        """A writer prompt sharing a prefix with `a` (or not), and what kind."""
        rng, b = self.rng, self.block_tokens
        kind = rng.choices(["extend", "branch", "block-edge", "new", "repeat", "prefix"],
                           weights=[30, 25, 10, 10, 10, 15])[0]
        if kind == "extend" and len(a) + 1 <= self.max_prompt:
            q = a + random_tokens(rng, rng.randint(1, min(300, self.max_prompt - len(a))))
        elif kind in ("extend", "branch"):
            kind = "branch"
            k = rng.randint(1, len(a))
            q = a[:k] + random_tokens(rng, rng.randint(1, 300))
        elif kind == "block-edge":
            k = max(1, min(len(a), (rng.randint(0, len(a) // b) * b) + rng.choice([-1, 0, 0, 1])))
            q = a[:k] + random_tokens(rng, rng.randint(0, 2 * b))
        elif kind == "new":
            q = random_tokens(rng, rng.randint(40, 900))
        elif kind == "repeat":
            q = list(a)
        else:
            q = a[:rng.randint(1, len(a))]
        return kind, q[:self.max_prompt]

    def check_run(self, q, cycle, why):
        """Runs `q` to completion; it must succeed and reuse what is acknowledged."""
        ids = os.path.join(self.dir, "check.ids")
        write_ids(ids, q)
        need, who = self.expected(q)
        rc, out, err, secs = run_kvstash(self.c.kvstash, self.run_args(ids), timeout=300)
        self.c.count("check runs")
        cmd = "kvstash " + " ".join(self.run_args(ids))
        if rc != 0:
            raise Violation("lane %d cycle %d: %s run failed (%s): %s" %
                            (self.index, cycle, why, describe_rc(rc), err.strip()[-500:]),
                            self.repro(cycle, "; command: " + cmd))
        j = parse_json(out)
        if j is None:
            raise Violation("lane %d cycle %d: %s run printed no JSON" % (self.index, cycle, why),
                            self.repro(cycle, "; command: " + cmd))
        self.note_duration(len(q), secs)
        self.judge(j, q, need, who, cycle, why, ids)
        self.ack(q)
        return j

    def ack(self, q):
        if tuple(q) not in self.acked_set:
            self.acked_set.add(tuple(q))
            self.acked.append(list(q))

    def judge(self, j, q, need, who, cycle, why, ids):
        reused = j.get("reused_tokens", -1)
        self.c.count("reuse checks")
        if reused < need:
            kept = os.path.join(self.dir, "q-cycle%d.ids" % cycle)
            shutil.copy(ids, kept)
            write_ids(os.path.join(self.dir, "acked-cycle%d.ids" % cycle), who)
            raise Violation(
                "lane %d cycle %d: acknowledged prefix lost: a %s run of %d tokens reused %d, "
                "but an acknowledged prompt of %d tokens shares %d with it (block size %d)" %
                (self.index, cycle, why, len(q), reused, len(who), need, self.block_tokens),
                self.repro(cycle, "; kvstash run --model %s --store %s --prompt-ids %s "
                           "--block-tokens %d --json (prompts in %s)" %
                           (self.model, self.store, kept, self.block_tokens, self.dir)))
        if (tuple(q) in self.acked_set and len(q) > self.block_tokens and
                not j.get("logits_from_store")):
            # The very prompt was acknowledged, so its logits record was
            # written (a prefix of an acknowledged prompt has none). Not a
            # promise of store.h (it speaks of blocks), so counted, not failed.
            self.c.count("acknowledged prompts without stored logits")
            if self.c.get("acknowledged prompts without stored logits") <= 3:
                kept = os.path.join(self.dir, "no-logits-cycle%d.ids" % cycle)
                shutil.copy(ids, kept)
                self.c.note("lane %d cycle %d: a %s run of an acknowledged %d-token prompt "
                            "reused all of it but found no stored logits (prompt: %s)" %
                            (self.index, cycle, why, len(q), kept))

    def note_duration(self, n, secs):
        self.samples = (self.samples + [(n, secs)])[-40:]

    def duration(self, n):
        """Seconds a whole run of an n-token prompt takes here."""
        return fit(self.samples, n)

    def wal_files(self):
        try:
            return {f for f in os.listdir(self.store) if f.endswith(".log")}
        except OSError:
            return set()

    def wait_open(self, p, before, deadline):
        """When the run opened the store (a new WAL file appeared), or None if
        it ended or the deadline passed first."""
        while p.poll() is None and time.monotonic() < deadline:
            if self.wal_files() - before:
                return time.monotonic()
            time.sleep(0.002)
        return None

    def after_open(self, n):
        """Seconds a run of an n-token prompt takes from store open to exit."""
        if len(self.open_samples) < 3:
            return 0.5
        return fit(self.open_samples, n)

    def verify(self, cycle):
        rc, out, err, _ = run_kvstash(self.c.kvstash, ["verify", "--store", self.store, "--json"],
                                      timeout=300)
        self.c.count("verify runs")
        j = parse_json(out)
        if rc != 0 or j is None or not j.get("clean"):
            problems = (j or {}).get("problems", [])[:5]
            raise Violation("lane %d cycle %d: kvstash verify after kill -9: %s, %s %s" %
                            (self.index, cycle, describe_rc(rc), err.strip()[-300:], problems),
                            self.repro(cycle, "; kvstash verify --store %s" % self.store))

    def cycle(self, cycle):
        a = self.pick_parent()
        kind, w = self.derive(a)
        ids = os.path.join(self.dir, "writer.ids")
        write_ids(ids, w)
        need, who = self.expected(w)
        out_path, err_path = os.path.join(self.dir, "writer.out"), os.path.join(self.dir, "writer.err")
        before = self.wal_files()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.monotonic()
            p = subprocess.Popen([self.c.kvstash] + self.run_args(ids), stdout=out, stderr=err,
                                 stdin=subprocess.DEVNULL)
            opened = None
            if self.rng.random() < 0.7:
                # Most kills land after the store opened (RocksDB starts a new
                # WAL file), while the run prefills, inserts, generates and
                # closes: process start and loading libtorch take most of a
                # run of the tiny model, and are not what is tested.
                opened = self.wait_open(p, before, t0 + 4 * self.duration(len(w)) + 10)
                delay = self.rng.uniform(0.0, 1.1) * self.after_open(len(w))
                timing = "after open"
            else:  # anywhere, process start and store open included
                delay = self.rng.uniform(0.05, 1.1) * self.duration(len(w))
                timing = "anywhere"
            try:
                rc = p.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                p.kill()  # SIGKILL
                rc = p.wait()
                killed = True
                self.c.count("killed " + timing)
            secs = time.monotonic() - t0
            if not killed and opened is not None:
                self.open_samples = (self.open_samples + [(len(w), time.monotonic() - opened)])[-40:]
        self.c.count("cycles")
        with open(out_path) as f:
            j = parse_json(f.read())
        if killed:
            self.c.count("killed (SIGKILL)")
            if j is not None:  # it printed its JSON, so Close() had returned: acknowledged
                self.c.count("killed after acknowledging")
        else:
            self.c.count("finished before the kill")
            if rc != 0:
                with open(err_path) as f:
                    msg = f.read().strip()[-500:]
                raise Violation("lane %d cycle %d: run after a kill -9 failed (%s): %s" %
                                (self.index, cycle, describe_rc(rc), msg),
                                self.repro(cycle, "; command: kvstash " + " ".join(self.run_args(ids))))
            self.note_duration(len(w), secs)
        if j is not None:
            self.judge(j, w, need, who, cycle, "writer (%s)" % kind, ids)
            self.ack(w)
        self.verify(cycle)
        if j is None:
            # Run the killed prompt again to the end, as a service would retry
            # it: it recovers what the killed run left and acknowledges it.
            self.check_run(w, cycle, "rerun of the killed writer's prompt")
        if lcp(w, a) < len(a):
            # The prompt the writer built on must still be there in full.
            self.check_run(a, cycle, "check (writer's parent)")
        if cycle % 4 == 0:  # and, in turn, every acknowledged prompt
            q = self.acked[self.rr % len(self.acked)]
            self.rr += 1
            self.check_run(q, cycle, "check (round robin)")

    def main(self):
        seed_prompt = random_tokens(self.rng, 400)
        self.check_run(seed_prompt, -1, "first")
        while True:
            i = self.c.take()
            if i is None:
                break
            self.cycle(i)


def fit(samples, n):
    """y at n of a line fitted to (n, seconds) samples (process start, then
    prefill and one insert per block), at least 0.05 s."""
    xs = [s[0] for s in samples]
    ys = [s[1] for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var > 0 else 0.0
    return max(0.05, my + max(slope, 0.0) * (n - mx))


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def run(campaign, work, model):
    lanes = [Lane(campaign, i, work, model) for i in range(campaign.args.lanes)]
    log("crash: %d lanes (block sizes %s), kvstash %s" %
        (len(lanes), ",".join(str(l.block_tokens) for l in lanes), campaign.kvstash))
    run_lanes(campaign, lanes, lambda lane: lane.main())
    secs = campaign.elapsed()
    c = campaign.get
    cycles = c("cycles")
    rows = [
        ("kill -9 cycles", "%d (goal 1,000)" % cycles),
        ("  killed while running", "%d (%d after the store opened, %d anywhere)" % (
            c("killed (SIGKILL)"), c("killed after open"), c("killed anywhere"))),
        ("  of those, after acknowledging", c("killed after acknowledging")),
        ("  finished before the kill", c("finished before the kill")),
        ("acknowledged prompts", sum(len(l.acked) for l in lanes)),
        ("reuse checks (acknowledged prefix)", c("reuse checks")),
        ("verify runs", c("verify runs")),
        ("exact repeats without stored logits", c("acknowledged prompts without stored logits")),
        ("store size at the end", ", ".join(mib(du(l.store)) for l in lanes)),
        ("violations", len(campaign.violations)),
        ("time", "%.0f s" % secs),
        ("rate", "%.2f cycles/s (%.1f s per cycle)" % (cycles / secs, secs / max(cycles, 1))),
    ]
    return rows
