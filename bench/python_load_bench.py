"""Loading a 2048-token prefix (Qwen2.5-0.5B shape, bf16) from a store on
disk: kvstash.Store.load in Python against the same load from C++
(kvstash_load_bench) and against torch.save/torch.load of the same tensors,
all in one run. Usage (from the repository root, after a build):

    PYTHONPATH=build/python /usr/bin/python3 bench/python_load_bench.py [--rounds 9]
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time

import torch

import kvstash


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--bench", default="build/bench/kvstash_load_bench")
    a = p.parse_args()
    torch.set_num_threads(2)
    work = tempfile.mkdtemp(prefix="kvstash-pyload-")
    try:
        store_dir = os.path.join(work, "store")
        cpp = json.loads(subprocess.run(
            [a.bench, "--store", store_dir, "--tokens", str(a.tokens), "--rounds", str(a.rounds),
             "--fill"], check=True, capture_output=True, text=True).stdout)
        tokens = list(range(1000, 1000 + a.tokens))
        py_ms = []
        with kvstash.Store(store_dir, device="cpu", device_budget_bytes=0) as store:
            model = store.register_model(store.get_model(cpp["model_id"]))
            kv = [(torch.zeros(1, 2, a.tokens, 64, dtype=torch.bfloat16),
                   torch.zeros(1, 2, a.tokens, 64, dtype=torch.bfloat16)) for _ in range(24)]
            for r in range(a.rounds + 1):
                t0 = time.perf_counter()
                got = store.load(model, tokens, kv)
                elapsed = (time.perf_counter() - t0) * 1000
                assert got.tokens == a.tokens, got
                if r > 0:
                    py_ms.append(elapsed)
        # The same tensors through torch.save / torch.load (page cache warm).
        path = os.path.join(work, "kv.pt")
        save_ms, load_ms = [], []
        for r in range(a.rounds + 1):
            t0 = time.perf_counter()
            torch.save(kv, path)
            t1 = time.perf_counter()
            back = torch.load(path)
            t2 = time.perf_counter()
            assert all(torch.equal(x, y) for (k, v), (kb, vb) in zip(kv, back)
                       for x, y in ((k, kb), (v, vb)))
            if r > 0:
                save_ms.append((t1 - t0) * 1000)
                load_ms.append((t2 - t1) * 1000)
        file_mb = os.path.getsize(path) / 1e6
        store_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store_dir)
                       for f in fs) / 1e6
        base = cpp["cpp_load_ms"]
        print("%d-token prefix, Qwen2.5-0.5B shape, bf16 (%.1f MB raw); %s, %d threads; "
              "median of %d rounds" % (a.tokens, cpp["raw_bytes"] / 1e6, cpu(), 2, a.rounds))
        print("%-46s %9s %9s" % ("path", "ms", "vs C++"))
        for name, ms in (("kvstash C++ Store::Load (kvstash_load_bench)", base),
                         ("kvstash Python Store.load", median(py_ms)),
                         ("torch.load of the same tensors (%.1f MB file)" % file_mb,
                          median(load_ms)),
                         ("torch.save of the same tensors", median(save_ms))):
            print("%-46s %9.1f %8.2fx" % (name, ms, ms / base))
        print("store on disk: %.1f MB" % store_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
