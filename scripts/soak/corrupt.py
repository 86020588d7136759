"""soak corrupt: damage one file of a stored store, then run; never a wrong answer.

Each flip starts from a pristine copy of a store (so flips are independent),
damages one file (a flipped byte, a burst of random bytes, a truncation, a
zeroed page or a deleted file), and runs one prompt on it with greedy
generation. The generated tokens must equal those of a `--store none` run and
the top log-probabilities must agree within LOGPROB_TOL. A run may refuse the
store with exit 1 and an error line (counted apart); a wrong answer, a
signal, a hang, or exit 1 without an error line is a violation.

Two pristine stores: A, closed cleanly (blocks in blob files and SSTs, an
empty WAL), and B, the store of a `kvstash serve` killed with SIGKILL after
its client finished (blocks only in the WAL, replayed at open).
"""

import os
import re
import shutil
import subprocess
import time

from common import (Violation, describe_rc, log, parallel, parse_json, random_tokens, rng_for,
                    run_kvstash, run_lanes, write_ids)

BLOCK_TOKENS = 32
NEW_TOKENS = 8
LOGPROBS = 4
# Cold and warm logits agree to f32 summation-order noise (~1e-6 here); KV
# from another block or garbage moves log-probabilities by far more.
LOGPROB_TOL = 1e-3

CLASSES = [("blob", 50), ("sst", 15), ("manifest", 8), ("wal", 10), ("options", 4),
           ("current", 2)]
OPS = [("flip", 55), ("burst", 15), ("truncate", 18), ("zero-page", 8), ("delete", 4)]


def classify(name):
    if name.endswith(".blob"):
        return "blob"
    if name.endswith(".sst"):
        return "sst"
    if name.startswith("MANIFEST-"):
        return "manifest"
    if name.endswith(".log"):
        return "wal"
    if name.startswith("OPTIONS-"):
        return "options"
    if name == "CURRENT":
        return "current"
    return None  # LOG, LOCK, IDENTITY: not read for data


def store_files(path):
    """{class: [file names]} of the non-empty files that hold data."""
    out = {}
    for name in sorted(os.listdir(path)):
        cls = classify(name)
        if cls and os.path.getsize(os.path.join(path, name)) > 0:
            out.setdefault(cls, []).append(name)
    return out


def damage(rng, path, files):
    """Damages one file of the store at `path`; returns what it did."""
    weights = [(c, w) for c, w in CLASSES if c in files]
    cls = rng.choices([c for c, _ in weights], weights=[w for _, w in weights])[0]
    name = rng.choice(files[cls])
    f = os.path.join(path, name)
    size = os.path.getsize(f)
    op = rng.choices([o for o, _ in OPS], weights=[w for _, w in OPS])[0]
    if op == "delete" and cls == "current":
        op = "truncate"
    if op == "flip":
        pos = rng.randrange(size)
        with open(f, "r+b") as h:
            h.seek(pos)
            b = h.read(1)[0]
            h.seek(pos)
            h.write(bytes([b ^ rng.randint(1, 255)]))
        what = "flip byte %d" % pos
    elif op == "burst":
        n = rng.randint(2, 64)
        pos = rng.randrange(max(1, size - n + 1))
        with open(f, "r+b") as h:
            h.seek(pos)
            h.write(bytes(rng.getrandbits(8) for _ in range(min(n, size - pos))))
        what = "overwrite %d bytes at %d" % (n, pos)
    elif op == "truncate":
        n = rng.randrange(size)
        os.truncate(f, n)
        what = "truncate %d -> %d bytes" % (size, n)
    elif op == "zero-page":
        page = rng.randrange((size + 4095) // 4096)
        with open(f, "r+b") as h:
            h.seek(page * 4096)
            h.write(bytes(min(4096, size - page * 4096)))
        what = "zero page %d" % page
    else:
        os.remove(f)
        what = "delete"
    return cls, op, "%s %s (%d bytes): %s" % (cls, name, size, what)


def same_answer(got, want):
    """None if `got` (run --json) gives the answer `want` does, else why not.
    Also returns the largest log-probability difference seen."""
    worst = 0.0
    if got.get("tokens") != want["tokens"]:
        return "generated tokens %s, the no-store run %s" % (got.get("tokens"), want["tokens"]), 0.0
    g_rows, w_rows = got.get("logprobs", []), want["logprobs"]
    if len(g_rows) != len(w_rows):
        return "%d logprob rows, expected %d" % (len(g_rows), len(w_rows)), 0.0
    for pos, (g, w) in enumerate(zip(g_rows, w_rows)):
        gd = {e["id"]: e["logprob"] for e in g}
        wd = {e["id"]: e["logprob"] for e in w}
        for tid in set(gd) | set(wd):
            if tid in gd and tid in wd:
                diff = abs(gd[tid] - wd[tid])
            else:  # a near tie at the edge of the top-N may swap members
                diff = abs(gd[tid] - min(wd.values())) if tid in gd else abs(
                    wd[tid] - min(gd.values()))
            worst = max(worst, diff)
            if diff > LOGPROB_TOL:
                return ("logprob of token %d at position %d: %s, the no-store run %s" %
                        (tid, pos, gd.get(tid), wd.get(tid))), worst
    return None, worst


class Setup:
    """The model, prompts, no-store answers and the two pristine stores."""

    def __init__(self, campaign, work, model):
        self.c = campaign
        self.work = work
        self.model = model
        rng = rng_for(campaign.seed, "corrupt", "prompts")
        p0 = random_tokens(rng, 300)
        # A prompt, one that leaves it mid-block, one that extends it.
        self.prompts = [p0, p0[:150] + random_tokens(rng, 100), p0 + random_tokens(rng, 70)]
        self.ids = []
        for i, p in enumerate(self.prompts):
            path = os.path.join(work, "p%d.ids" % i)
            write_ids(path, p)
            self.ids.append(path)
        self.pristine = {"A": os.path.join(work, "pristine-A"), "B": os.path.join(work, "pristine-B")}
        # The no-store answers and the two stores are independent: make them
        # at once (a run is mostly process start, ~1 s of one core).
        results = parallel([lambda i=i: self.answer(i, ["--store", "none"])
                            for i in range(len(self.prompts))] + [self.build_a, self.build_b])
        self.want = results[:len(self.prompts)]
        got = {"A": results[-2], "B": results[-1]}
        for which in ("A", "B"):
            for i, j, what in got[which]:
                self.expect_same(i, j, what)
        self.files = {k: store_files(v) for k, v in self.pristine.items()}

    def args(self, i, store_args):
        return (["run", "--model", self.model, "--prompt-ids", self.ids[i], "--max-new-tokens",
                 str(NEW_TOKENS), "--logprobs", str(LOGPROBS), "--block-tokens", str(BLOCK_TOKENS),
                 "--json"] + store_args)

    def answer(self, i, store_args):
        rc, out, err, _ = run_kvstash(self.c.kvstash, self.args(i, store_args))
        j = parse_json(out)
        if rc != 0 or j is None:
            raise SystemExit("soak corrupt: setup run failed (%s): %s" % (describe_rc(rc), err))
        return j

    def expect_same(self, i, j, what):
        why, _ = same_answer(j, self.want[i])
        if why:
            raise Violation("setup: %s of prompt %d differs from the no-store run: %s" %
                            (what, i, why), "")

    def build_a(self):
        """Stores every prompt in A, closing it after each; returns the runs."""
        a = self.pristine["A"]
        return [(i, self.answer(i, ["--store", a]), "a stored run")
                for i in range(len(self.prompts))]

    def probe(self, store, i, name):
        """A run of prompt i on a copy of `store`, which must reuse all of it."""
        probe = store + "-probe"
        shutil.copytree(store, probe, symlinks=True)
        j = self.answer(i, ["--store", probe])
        shutil.rmtree(probe)
        if j["reused_tokens"] != j["prompt_tokens"]:
            raise Violation("setup: prompt %d reused %d of %d tokens from store %s" %
                            (i, j["reused_tokens"], j["prompt_tokens"], name), "")
        return i, j, "a warm run on store " + name

    def build_b(self):
        """Stores every prompt in B through `kvstash serve`, then kills the
        server with SIGKILL (the blocks stay in its WAL); returns the runs."""
        b = self.pristine["B"]
        err_path = os.path.join(self.work, "serve-B.err")
        runs = []
        with open(err_path, "wb") as err:
            server = subprocess.Popen([self.c.kvstash, "serve", "--store", b, "--listen",
                                       "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=err)
        try:
            addr = wait_for_listen(server, err_path)
            for i in range(len(self.prompts)):
                runs.append((i, self.answer(i, ["--store", "none", "--remote", addr]),
                             "a run through kvstash serve"))
        finally:
            server.kill()
            server.wait()
        if "wal" not in store_files(b):
            self.c.note("store B has no WAL bytes after kill -9 of the server")
        runs.append(self.probe(b, len(self.prompts) - 1, "B (WAL replay)"))
        return runs


def wait_for_listen(server, err_path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(err_path) as f:
            m = re.search(r"serving .* on (\S+):(\d+)", f.read())
        if m:
            return "%s:%s" % (m.group(1), m.group(2))
        if server.poll() is not None:
            break
        time.sleep(0.02)
    with open(err_path) as f:
        raise SystemExit("soak: kvstash serve did not start: %s" % f.read().strip())


class Lane:
    def __init__(self, campaign, setup, index):
        self.c = campaign
        self.s = setup
        self.index = index
        self.dir = os.path.join(setup.work, "lane%d" % index)
        os.makedirs(self.dir)
        self.worst = 0.0

    def flip(self, i):
        rng = rng_for(self.c.seed, "flip", i)
        which = "A" if rng.random() < 0.7 else "B"
        files = self.s.files[which]
        if "wal" not in files and rng.random() < 0.1:
            which, files = "A" if which == "B" else "B", self.s.files["A" if which == "B" else "B"]
        store = os.path.join(self.dir, "store")
        damaged = os.path.join(self.dir, "damaged")
        for d in (store, damaged):
            if os.path.exists(d):
                shutil.rmtree(d)
        shutil.copytree(self.s.pristine[which], store, symlinks=True)
        cls, op, what = damage(rng, store, files)
        shutil.copytree(store, damaged, symlinks=True)  # kept as evidence on a violation
        p = rng.randrange(len(self.s.prompts))
        args = self.s.args(p, ["--store", store])
        rc, out, err, secs = run_kvstash(self.c.kvstash, args, timeout=120)
        self.c.count("flips")
        self.c.count("flips: " + cls)
        self.c.count("op: " + op)
        where = "flip %d (store %s, %s, prompt %d)" % (i, which, what, p)
        if self.c.args.flip is not None:
            log("%s: %s" % (where, describe_rc(rc)))

        def fail(why):
            kept = os.path.join(self.dir, "violation-flip%d" % i)
            shutil.move(damaged, kept)
            cmd = "cp -a %s /tmp/s && %s %s" % (kept, self.c.kvstash, " ".join(
                a if a != store else "/tmp/s" for a in args))
            raise Violation("%s: %s" % (where, why),
                            "%s --flip %d; or on the kept damaged store: %s" %
                            (self.c.repro_prefix(), i, cmd))

        if rc is None:
            fail("run hung (killed after 120 s)")
        if rc == 1:
            if not err.strip():
                fail("exit 1 without an error line")
            self.c.count("refused (exit 1, error line)")
            self.c.count("refused: " + cls)
            reason = err.strip().splitlines()[-1].replace(store, "STORE")
            reason = re.sub(r"[0-9a-f]{8,}|\d+", "N", reason)[:150]
            self.c.count("reason: %s: %s" % (cls, reason))
            return
        if rc != 0:
            fail("run %s: %s" % (describe_rc(rc), err.strip()[-400:]))
        j = parse_json(out)
        if j is None:
            fail("exit 0 without a JSON document")
        why, worst = same_answer(j, self.s.want[p])
        self.worst = max(self.worst, worst)
        if why:
            fail("wrong output: " + why)
        reused, total = j.get("reused_tokens", 0), j.get("prompt_tokens", 0)
        self.c.count("same answer, all reused" if reused == total else
                     "same answer, part reused" if reused else "same answer, none reused")

    def main(self):
        if self.c.args.flip is not None:
            if self.index == 0:
                self.flip(self.c.args.flip)
            return
        while True:
            i = self.c.take()
            if i is None:
                break
            self.flip(i)


def run(campaign, work, model):
    t0 = time.monotonic()
    setup = Setup(campaign, work, model)
    setup_s = time.monotonic() - t0
    campaign.start = time.monotonic()  # the budget is for flips
    lanes = [Lane(campaign, setup, i) for i in range(campaign.args.lanes)]
    log("corrupt: setup %.1f s; store A files %s; store B files %s" %
        (setup_s, {k: len(v) for k, v in setup.files["A"].items()},
         {k: len(v) for k, v in setup.files["B"].items()}))
    run_lanes(campaign, lanes, lambda lane: lane.main())
    secs = campaign.elapsed()
    c = campaign.get
    flips = c("flips")
    rows = [("flips", "%d (goal 10,000)" % flips)]
    for cls, _ in CLASSES:
        rows.append(("  in %s files" % cls, "%d (refused %d)" % (c("flips: " + cls),
                                                              c("refused: " + cls))))
    rows.append(("  by kind", ", ".join("%s %d" % (o, c("op: " + o)) for o, _ in OPS)))
    for key in ("same answer, all reused", "same answer, part reused", "same answer, none reused",
                "refused (exit 1, error line)"):
        rows.append((key, c(key)))
    reasons = sorted((k[len("reason: "):], v) for k, v in campaign.counts.items()
                     if k.startswith("reason: "))
    if reasons:
        rows.append(("  refusals, by file and message:", None))
        rows += [("    %5d x %s" % (v, k), "") for k, v in reasons]
    rows += [
        ("wrong outputs / crashes", len(campaign.violations)),
        ("largest logprob difference", "%.2g (tolerance %g)" % (
            max(l.worst for l in lanes), LOGPROB_TOL)),
        ("setup", "%.1f s" % setup_s),
        ("time", "%.0f s" % secs),
        ("rate", "%.2f flips/s" % (flips / secs if secs else 0)),
    ]
    return rows
