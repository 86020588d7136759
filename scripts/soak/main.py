"""scripts/soak.sh: fault campaigns against the kvstash binary (docs/soak.md)."""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Campaign, Violation, log, machine, make_model, print_table  # noqa: E402

MODES = ("crash", "corrupt", "peer")
GOALS = {"crash": 1000, "corrupt": 10000, "peer": 100000}
# --short: seconds of campaign per mode, so that each whole run (setup
# included) stays under a minute on a 2-core machine.
SHORT_SECONDS = {"crash": 35, "corrupt": 25, "peer": 20}
DEFAULT_SECONDS = 300


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="scripts/soak.sh",
        description="Fault campaigns against kvstash: kill -9 during writes (crash), damaged "
        "store files (corrupt), hostile peer-protocol frames (peer). See docs/soak.md.")
    p.add_argument("mode", choices=MODES + ("all",))
    budget = p.add_argument_group("budget (both: whichever ends first)")
    budget.add_argument("--cycles", type=int, help="kill cycles / flips / hostile frames to do "
                        "(goals: crash 1000, corrupt 10000, peer 100000)")
    budget.add_argument("--seconds", type=float,
                        help="stop after this long (default %d s per mode unless --cycles)" %
                        DEFAULT_SECONDS)
    p.add_argument("--short", action="store_true",
                   help="the CI version: %s seconds" % ", ".join(
                       "%s %d" % kv for kv in SHORT_SECONDS.items()))
    p.add_argument("--kvstash", default=os.environ.get("KVSTASH"),
                   help="the kvstash binary (default $KVSTASH, else build/tools/kvstash)")
    p.add_argument("--dir", help="work directory (default: a new one under $TMPDIR); kept on "
                   "a violation, else removed unless --keep")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--seed", type=int, help="random seed (default: from the clock; printed)")
    p.add_argument("--lanes", type=int, default=min(os.cpu_count() or 1, 4),
                   help="parallel campaigns (crash, corrupt); default: the cores, up to 4")
    p.add_argument("--flip", type=int,
                   help="corrupt: replay only this flip (same --seed), keeping its store")
    p.add_argument("--stop-on-first", action="store_true", help="stop at the first violation")
    a = p.parse_args(argv)
    if a.kvstash is None:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        a.kvstash = os.path.join(root, "build", "tools", "kvstash")
    a.kvstash = os.path.abspath(a.kvstash)
    if not os.access(a.kvstash, os.X_OK):
        p.error("no kvstash binary at %s (build it, or pass --kvstash PATH)" % a.kvstash)
    if a.seed is None:
        a.seed = int(time.time() * 1000) % 1000000
    if a.flip is not None:
        a.keep = True  # the replayed flip's damaged store is what one wants to look at
    if a.lanes < 1:
        p.error("--lanes must be at least 1")
    if a.dir and os.path.isdir(a.dir) and os.listdir(a.dir):
        p.error("--dir %s is not empty" % a.dir)
    return a


def budget_for(mode, a):
    cycles, seconds = a.cycles, a.seconds
    if a.short:
        seconds = SHORT_SECONDS[mode] if seconds is None else seconds
    elif cycles is None and seconds is None:
        seconds = DEFAULT_SECONDS
    return cycles, seconds


def run_mode(mode, a, work):
    import crash
    import corrupt
    import peer
    cycles, seconds = budget_for(mode, a)
    a_mode = argparse.Namespace(**vars(a))
    a_mode.cycles, a_mode.seconds = cycles, seconds
    mode_dir = os.path.join(work, mode)
    os.makedirs(mode_dir)
    model = os.path.join(mode_dir, "model")
    make_model(a.kvstash, model)
    campaign = Campaign(mode, a_mode)
    log("%s: seed %d, budget %s%s, work dir %s" %
        (mode, a.seed, "%d cycles " % cycles if cycles else "",
         "%.0f s" % seconds if seconds else "", mode_dir))
    try:
        rows = {"crash": crash.run, "corrupt": corrupt.run, "peer": peer.run}[mode](
            campaign, mode_dir, model)
    except Violation as v:  # found while setting up
        campaign.violate(v.what, v.repro or campaign.repro_prefix())
        rows = [("setup", "failed")]
    title = "soak %s: seed %d, %s, kvstash %s" % (mode, a.seed, machine(), a.kvstash)
    print_table(title, rows)
    for text in campaign.notes:
        print("  note: %s" % text)
    for v in campaign.violations:
        print("  VIOLATION: %s" % v.what)
        if v.repro:
            print("    reproduce: %s" % v.repro)
    sys.stdout.flush()
    return not campaign.violations


def main(argv):
    a = parse_args(argv)
    work = a.dir or tempfile.mkdtemp(prefix="kvstash-soak-")
    os.makedirs(work, exist_ok=True)
    ok = True
    for mode in (MODES if a.mode == "all" else (a.mode,)):
        ok = run_mode(mode, a, work) and ok
    if ok and not a.keep:
        shutil.rmtree(work, ignore_errors=True)  # --dir was empty: all of it is ours
    else:
        log("work directory kept: %s" % work)
    if not ok:
        log("FAILED: see the VIOLATION lines above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
