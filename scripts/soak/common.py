"""What every soak campaign shares: running kvstash, prompts, figures, violations."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

# Token ids the prompts use. The tiny preset has a 512-token vocabulary whose
# special tokens sit above 450.
TOKEN_LO, TOKEN_HI = 1, 450


class Violation(Exception):
    """A broken promise. `repro` says how to see it again."""

    def __init__(self, what, repro=""):
        super().__init__(what)
        self.what = what
        self.repro = repro


class Campaign:
    """Budget (cycles and/or seconds), counters and violations of one mode,
    shared by its lanes (threads, each driving its own kvstash processes)."""

    def __init__(self, mode, args):
        self.mode = mode
        self.args = args
        self.kvstash = args.kvstash
        self.seed = args.seed
        self.target = args.cycles
        self.seconds = args.seconds
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.next_index = 0
        self.counts = {}
        self.violations = []
        self.notes = []
        self.max_violations = 1 if args.stop_on_first else 20
        self.stopped = False  # Ctrl-C
        self.unit = {"crash": "cycles", "corrupt": "flips", "peer": "frames"}[mode]

    def take(self):
        """The next cycle index, or None when the budget is spent."""
        with self.lock:
            if self.target is not None and self.next_index >= self.target:
                return None
            if self.seconds is not None and time.monotonic() - self.start >= self.seconds:
                return None
            if len(self.violations) >= self.max_violations or self.stopped:
                return None
            i = self.next_index
            self.next_index += 1
            return i

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def get(self, key):
        with self.lock:
            return self.counts.get(key, 0)

    def violate(self, what, repro):
        with self.lock:
            self.violations.append(Violation(what, repro))
        log("VIOLATION: %s" % what)
        if repro:
            log("  reproduce: %s" % repro)

    def note(self, text):
        with self.lock:
            self.notes.append(text)
        log("note: %s" % text)

    def elapsed(self):
        return time.monotonic() - self.start

    def repro_prefix(self):
        return "scripts/soak.sh %s --seed %d --kvstash %s" % (self.mode, self.seed, self.kvstash)


def log(text):
    sys.stderr.write("[soak %s] %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def describe_rc(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %d" % rc


def run_kvstash(kvstash, args, timeout=120, stdin=None):
    """Runs kvstash to completion. Returns (rc, stdout, stderr, seconds);
    rc is None if it ran past `timeout` (it is then killed)."""
    t0 = time.monotonic()
    p = subprocess.Popen([kvstash] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = None
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - t0


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def make_model(kvstash, out_dir, seed=7):
    rc, out, err, _ = run_kvstash(kvstash, ["mkmodel", "--out", out_dir, "--preset", "tiny",
                                            "--seed", str(seed)])
    if rc != 0:
        raise SystemExit("soak: kvstash mkmodel failed (%s): %s" % (describe_rc(rc), err.strip()))


def random_tokens(rng, n):
    return [rng.randint(TOKEN_LO, TOKEN_HI) for _ in range(n)]


def write_ids(path, ids):
    with open(path, "w") as f:
        f.write(" ".join(str(t) for t in ids))
        f.write("\n")


def lcp(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def read_rss(pid):
    """(VmRSS, VmHWM) of a process in bytes, or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    def kib(name):
        return int(fields[name].split()[0]) * 1024 if name in fields else 0
    return kib("VmRSS"), kib("VmHWM")


def mib(n):
    return "%.1f MiB" % (n / 1048576.0)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores" % (model, os.cpu_count() or 0)


def print_table(title, rows):
    """rows: (label, value) pairs; a value of None or "" prints the label alone."""
    width = max([len(r[0]) for r in rows if r[1] not in (None, "")] + [1])
    print("== %s" % title)
    for label, value in rows:
        if value in (None, ""):
            print("  " + label)
        else:
            print("  %-*s  %s" % (width, label, value))
    sys.stdout.flush()


def run_lanes(campaign, lanes, body):
    """Runs body(lane) on one thread per lane; an exception in a lane is
    recorded as a violation of the harness itself (so it is never silent)."""
    threads = []
    def wrap(lane):
        try:
            body(lane)
        except Violation as v:
            campaign.violate(v.what, v.repro)
        except Exception as e:  # a bug in the soak script: say so and fail
            import traceback
            traceback.print_exc()
            campaign.violate("soak harness error in lane %d: %r" % (lane.index, e), "")
    for lane in lanes:
        t = threading.Thread(target=wrap, args=(lane,), daemon=True)
        t.start()
        threads.append(t)
    wait_threads(campaign, threads)


def wait_threads(campaign, threads):
    """Joins the threads; Ctrl-C ends the campaign after the cycles in flight."""
    last = time.monotonic()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.2)
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                n = campaign.get(campaign.unit)
                log("%s: %d %s in %.0f s, %d violations" %
                    (campaign.mode, n, campaign.unit, campaign.elapsed(), len(campaign.violations)))
    except KeyboardInterrupt:
        log("interrupted: finishing the cycles in flight (Ctrl-C again to abort)")
        campaign.stopped = True
        for t in threads:
            t.join()


def rng_for(seed, *parts):
    return random.Random("%d/%s" % (seed, "/".join(str(p) for p in parts)))


def parallel(fns):
    """Runs the callables at once (each mostly waits on a kvstash process) and
    returns their results in order; the first exception is raised."""
    results, errors = [None] * len(fns), []

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: B902 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
