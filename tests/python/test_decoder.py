"""The proof that Python and C++ share one store: a Qwen2 decoder in plain
PyTorch (qwen2_decoder.py) runs `kvstash mkmodel`'s tiny model with a
transformers-layout cache; what it stores, another Python process and
`kvstash run` reuse, and what `kvstash run` stores, Python reuses -- each
time with the logits of a cold prefill (f32, within 1e-4)."""

import json
import os
import random
import subprocess
import sys

import pytest
import torch

import kvstash

sys.path.insert(0, os.path.dirname(__file__))
from qwen2_decoder import Qwen2  # noqa: E402

KVSTASH = os.environ.get("KVSTASH_BINARY")
BLOCK = 16
pytestmark = pytest.mark.skipif(not KVSTASH, reason="KVSTASH_BINARY is not set (ctest sets it)")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("model") / "tiny"
    subprocess.run([KVSTASH, "mkmodel", "--out", str(d), "--preset", "tiny", "--dtype", "f32",
                    "--seed", "11"], check=True, capture_output=True)
    return str(d)


def prompt(seed, n=70):
    rng = random.Random(seed)
    return [rng.randrange(10, 500) for _ in range(n)]


def cold_logits(model, tokens):
    cache = model.new_cache(len(tokens))
    return model.forward(tokens, 0, cache), cache


def warm_logits(model, store, model_id, tokens):
    """Loads the stored prefix, computes the rest (at least the last token,
    for its logits); returns (logits, tokens loaded)."""
    cache = model.new_cache(len(tokens))
    got = store.load(model_id, tokens, cache)
    start = min(got.tokens, len(tokens) - 1)
    return model.forward(tokens[start:], start, cache), got.tokens


def kvstash_run(model_dir, store, tokens, tmp_path):
    ids = tmp_path / ("ids-%d.txt" % random.randrange(1 << 30))
    ids.write_text(" ".join(map(str, tokens)) + "\n")
    out = subprocess.run([KVSTASH, "run", "--model", model_dir, "--store", store, "--prompt-ids",
                          str(ids), "--no-bos", "--max-new-tokens", "1", "--logprobs", "5",
                          "--block-tokens", str(BLOCK), "--compute-dtype", "f32", "--threads", "2",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_description_is_the_engines(model_dir, tmp_path):
    desc = kvstash.model_description_from_hf(model_dir, block_tokens=BLOCK)
    assert desc["num_layers"] == 4 and desc["kv_dtype"] == "f32"
    assert len(desc["weights_digest"]) == 32
    store_dir = str(tmp_path / "store")
    run = kvstash_run(model_dir, store_dir, prompt(1, 20), tmp_path)
    with kvstash.Store(store_dir, device="cpu") as store:
        assert store.register_model(desc) == run["model_id"]


CHILD = r"""
import sys, torch, kvstash
sys.path.insert(0, sys.argv[3])
from qwen2_decoder import Qwen2
from test_decoder import prompt, warm_logits, BLOCK
model = Qwen2(sys.argv[1])
with kvstash.Store(sys.argv[2], device="cpu") as store:
    model_id = store.register_model(kvstash.model_description_from_hf(sys.argv[1], block_tokens=BLOCK))
    logits, loaded = warm_logits(model, store, model_id, prompt(2))
torch.save({"logits": logits, "loaded": loaded}, sys.argv[4])
"""


def test_python_stores_and_another_python_process_and_kvstash_run_reuse(model_dir, tmp_path):
    model = Qwen2(model_dir)
    store_dir = str(tmp_path / "store")
    tokens = prompt(2)
    cold, cache = cold_logits(model, tokens)
    with kvstash.Store(store_dir, device="cpu") as store:
        model_id = store.register_model(kvstash.model_description_from_hf(model_dir,
                                                                          block_tokens=BLOCK))
        assert store.insert(model_id, tokens, cache).tokens_stored == len(tokens)

    result = tmp_path / "child.pt"
    out = subprocess.run([sys.executable, "-c", CHILD, model_dir, store_dir,
                          os.path.dirname(__file__), str(result)],
                         capture_output=True, text=True, env=os.environ, timeout=300)
    assert out.returncode == 0, out.stderr
    child = torch.load(str(result))
    assert child["loaded"] == len(tokens)
    assert torch.allclose(child["logits"], cold, atol=1e-4, rtol=0), \
        (child["logits"] - cold).abs().max()

    # kvstash run (C++) reuses the K/V Python computed, and its top-5
    # log-probabilities are Python's cold ones.
    run = kvstash_run(model_dir, store_dir, tokens, tmp_path)
    assert run["reused_tokens"] == len(tokens)
    expected = torch.log_softmax(cold, dim=-1)
    for entry in run["logprobs"][0]:
        assert abs(entry["logprob"] - expected[entry["id"]].item()) <= 1e-4, entry
    assert run["logprobs"][0][0]["id"] == int(expected.argmax())


def test_kvstash_run_stores_and_python_reuses(model_dir, tmp_path):
    model = Qwen2(model_dir)
    store_dir = str(tmp_path / "store")
    tokens = prompt(3, 90)
    run = kvstash_run(model_dir, store_dir, tokens, tmp_path)
    assert run["reused_tokens"] == 0
    cold, _ = cold_logits(model, tokens)
    with kvstash.Store(store_dir, device="cpu") as store:
        model_id = store.register_model(kvstash.model_description_from_hf(model_dir,
                                                                          block_tokens=BLOCK))
        assert model_id == run["model_id"]
        warm, loaded = warm_logits(model, store, model_id, tokens)
        assert loaded == len(tokens)
        assert torch.allclose(warm, cold, atol=1e-4, rtol=0), (warm - cold).abs().max()
        # A prompt that shares the first 50 tokens reuses them.
        other = tokens[:50] + prompt(4, 30)
        other_cold, _ = cold_logits(model, other)
        other_warm, other_loaded = warm_logits(model, store, model_id, other)
        assert other_loaded == 50
        assert torch.allclose(other_warm, other_cold, atol=1e-4, rtol=0)


def test_the_engine_matches_kvstash_run_and_the_python_decoder(model_dir, tmp_path):
    model = Qwen2(model_dir)
    store_dir = str(tmp_path / "store")
    tokens = prompt(5, 60)
    cold, _ = cold_logits(model, tokens)
    with kvstash.Store(store_dir, device="cpu") as store:
        engine = kvstash.Engine(model_dir, store=store, compute_dtype="f32", block_tokens=BLOCK,
                                threads=2)
        first = engine.generate(tokens, max_new_tokens=4, logprobs=5, stop_at_eos=False)
        assert first["reused_tokens"] == 0 and first["computed_tokens"] == len(tokens)
        assert torch.allclose(first["prompt_logits"], cold, atol=1e-4, rtol=0)
        again = engine.generate(tokens, max_new_tokens=4, logprobs=5, stop_at_eos=False)
        assert again["reused_tokens"] == len(tokens)
        assert again["tokens"] == first["tokens"]
        logits, stats = engine.prefill(tokens)
        assert stats["reused_tokens"] == len(tokens)
        assert torch.allclose(logits, cold, atol=1e-4, rtol=0)
        model_id = engine.model_id
    # The same store, the same answer from `kvstash run`.
    run = kvstash_run(model_dir, store_dir, tokens, tmp_path)
    assert run["model_id"] == model_id
    assert run["reused_tokens"] == len(tokens)
    assert run["tokens"][0] == first["tokens"][0]

    text = "the store keeps these blocks"
    plain = kvstash.Engine(model_dir, compute_dtype="f32", threads=1)
    ids = plain.tokenize(text)
    assert ids and plain.decode(ids) == text
    # Single byte-level tokens are often not whole UTF-8 characters: text
    # with U+FFFD, never an exception.
    decoded = [plain.decode([i]) for i in range(512)]
    assert any("\ufffd" in d for d in decoded)
    with pytest.raises(kvstash.InvalidArgumentError, match="closed"):
        closed = kvstash.Store(str(tmp_path / "other"), device="cpu")
        engine = kvstash.Engine(model_dir, store=closed, compute_dtype="f32", threads=1)
        closed.close()
        engine.prefill(tokens)
    with pytest.raises(kvstash.Error):
        kvstash.Engine(str(tmp_path / "no-such-model"))


def test_threads_take_turns_on_one_engine(model_dir, tmp_path):
    import threading
    with kvstash.Store(str(tmp_path / "store"), device="cpu") as store:
        engine = kvstash.Engine(model_dir, store=store, compute_dtype="f32", block_tokens=BLOCK,
                                threads=1)
        prompts = [prompt(20 + i, 40) for i in range(3)]
        expected = [engine.generate(p, max_new_tokens=3, stop_at_eos=False)["tokens"]
                    for p in prompts]
        wrong = []

        def work(i):
            for _ in range(3):
                if engine.generate(prompts[i], max_new_tokens=3, stop_at_eos=False)["tokens"] != \
                        expected[i]:
                    wrong.append(i)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wrong == []
