"""kvstash.Store from Python (python/store_binding.cc): K/V stored from
torch tensors in transformers' layout come back byte for byte, in this
process and in another one; bad input raises kvstash errors, never crashes."""

import os
import subprocess
import sys
import threading

import pytest
import torch

import kvstash

LAYERS, KV_HEADS, HEAD_DIM = 3, 2, 16


def description(dtype="f32", tag=""):
    return {
        "architecture": "TestForCausalLM",
        "num_layers": LAYERS,
        "hidden_size": 64,
        "num_heads": 4,
        "num_kv_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "vocab_size": 1000,
        "rope_theta": 10000.0,
        "kv_dtype": dtype,
        "block_tokens": 16,
        "weights_digest": "0123456789abcdef0123456789abcdef",
        "tag": tag,
    }


def hf_kv(seq, seed=1, dtype=torch.float32):
    """transformers' layout: per layer (key, value), each [1, kv_heads, seq, head_dim]."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(1, KV_HEADS, seq, HEAD_DIM, generator=g).to(dtype),
             torch.randn(1, KV_HEADS, seq, HEAD_DIM, generator=g).to(dtype))
            for _ in range(LAYERS)]


def empty_hf_kv(seq, dtype=torch.float32):
    return [(torch.zeros(1, KV_HEADS, seq, HEAD_DIM, dtype=dtype),
             torch.zeros(1, KV_HEADS, seq, HEAD_DIM, dtype=dtype)) for _ in range(LAYERS)]


def same_prefix(a, b, n):
    return all(torch.equal(x[..., :n, :], y[..., :n, :])
               for (ka, va), (kb, vb) in zip(a, b) for x, y in ((ka, kb), (va, vb)))


def test_a_stored_prefix_loads_back_byte_for_byte(tmp_path):
    tokens = list(range(1, 71))  # 4 blocks of 16 and a partial of 6
    kv = hf_kv(70)
    with kvstash.Store(str(tmp_path), device="cpu") as store:
        model = store.register_model(description())
        assert len(model) == 32
        assert store.register_model(dict(description(), kv_dtype=torch.float32)) == model
        assert store.match(model, tokens) == 0
        inserted = store.insert(model, tokens, kv)
        assert inserted.tokens_stored == 70
        assert inserted.blocks_added == 5
        assert store.match(model, tokens) == 70
        store.flush()
    assert store.closed

    with kvstash.Store(str(tmp_path), device="cpu") as store:
        model = store.register_model(description())
        back = empty_hf_kv(70)
        got = store.load(model, torch.tensor(tokens), back)
        assert (got.tokens, got.disk_tokens, got.corrupt_blocks) == (70, 70, 0)
        assert same_prefix(kv, back, 70)
        # A longer prompt reuses all of it (the partial last block too).
        longer = empty_hf_kv(90)
        assert store.load(model, tokens + list(range(500, 520)), longer).tokens == 70
        assert same_prefix(kv, longer, 70)
        # One that differs at position 40 reuses the 40 tokens before it.
        other = tokens[:40] + [999] + tokens[41:]
        assert store.load(model, other, empty_hf_kv(70)).tokens == 40
        stats = store.stats()
        assert stats["hit_tokens_device"] + stats["hit_tokens_disk"] == 70 + 70 + 40
        assert store.get_model(model)["num_layers"] == LAYERS


def test_kvstash_layout_and_bf16(tmp_path):
    tokens = list(range(100, 140))
    kv = [(k[0], v[0]) for k, v in hf_kv(40, seed=2, dtype=torch.bfloat16)]  # [kv_heads, seq, dim]
    with kvstash.Store(str(tmp_path), device="cpu") as store:
        model = store.register_model(description("bf16"))
        store.insert(model, tokens, kv)
        back = [(torch.zeros(KV_HEADS, 48, HEAD_DIM, dtype=torch.bfloat16),
                 torch.zeros(KV_HEADS, 48, HEAD_DIM, dtype=torch.bfloat16)) for _ in range(LAYERS)]
        assert store.load(model, tokens, back).tokens == 40
        assert all(torch.equal(a[:, :40], b[:, :40]) for (ka, va), (kb, vb) in zip(kv, back)
                   for a, b in ((ka, kb), (va, vb)))


CHILD = r"""
import sys, torch, kvstash
sys.path.insert(0, sys.argv[2])
from test_store import description, hf_kv, empty_hf_kv, same_prefix
with kvstash.Store(sys.argv[1], device="cpu", read_only=True) as store:
    model = store.register_model(description())
    back = empty_hf_kv(70)
    got = store.load(model, list(range(1, 71)), back)
    print(got.tokens, got.disk_tokens, same_prefix(hf_kv(70), back, 70))
"""


def test_another_process_loads_what_this_one_stored(tmp_path):
    with kvstash.Store(str(tmp_path), device="cpu") as store:
        model = store.register_model(description())
        store.insert(model, list(range(1, 71)), hf_kv(70))
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), os.path.dirname(__file__)],
                         capture_output=True, text=True, env=os.environ, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["70", "70", "True"]


def test_bad_input_raises_kvstash_errors(tmp_path):
    store = kvstash.Store(str(tmp_path), device="cpu")
    model = store.register_model(description())
    tokens = list(range(1, 41))
    with pytest.raises(kvstash.InvalidArgumentError, match="unknown key 'layers'"):
        store.register_model({"layers": 3})
    with pytest.raises(kvstash.InvalidArgumentError, match="not a model id"):
        store.match("not-hex", tokens)
    with pytest.raises(kvstash.NotFoundError):
        store.load("0" * 32, tokens, hf_kv(40))
    with pytest.raises(kvstash.InvalidArgumentError, match=r"kv\[0\] key: shape \[2, 40\]"):
        store.insert(model, tokens, [(torch.zeros(2, 40), torch.zeros(2, 40))] * LAYERS)
    with pytest.raises(kvstash.InvalidArgumentError):
        store.insert(model, tokens, hf_kv(40)[:2])  # a layer short
    with pytest.raises(kvstash.InvalidArgumentError, match="dtype|Float|BFloat16|bf16|f32"):
        store.insert(model, tokens, hf_kv(40, dtype=torch.bfloat16))  # the model's KV is f32
    transposed = [(k.transpose(2, 3).contiguous().transpose(2, 3), v) for k, v in hf_kv(40)]
    with pytest.raises(kvstash.InvalidArgumentError):
        store.insert(model, tokens, transposed)  # rows not contiguous
    with pytest.raises(kvstash.InvalidArgumentError, match="capacity|positions|hold"):
        store.insert(model, tokens, hf_kv(20))  # shorter than the tokens
    with pytest.raises(kvstash.InvalidArgumentError, match="not a token id"):
        store.match(model, [1, -5])
    with pytest.raises(kvstash.InvalidArgumentError, match="pair"):
        store.insert(model, tokens, [torch.zeros(1)] * LAYERS)
    assert isinstance(kvstash.NotFoundError("x"), kvstash.Error)
    store.close()
    store.close()  # idempotent
    with pytest.raises(kvstash.InvalidArgumentError, match="closed"):
        store.match(model, tokens)


def test_a_read_only_store_refuses_inserts(tmp_path):
    with kvstash.Store(str(tmp_path), device="cpu") as store:
        store.register_model(description())
    with kvstash.Store(str(tmp_path), device="cpu", read_only=True) as store:
        model = store.register_model(description())
        with pytest.raises(kvstash.NotSupportedError):
            store.insert(model, list(range(1, 41)), hf_kv(40))


def test_a_second_writer_gets_busy(tmp_path):
    with kvstash.Store(str(tmp_path), device="cpu"):
        with pytest.raises(kvstash.BusyError, match="LOCK"):
            kvstash.Store(str(tmp_path), device="cpu")


def test_threads_share_one_store(tmp_path):
    prompts = [list(range(1000 * i, 1000 * i + 64)) for i in range(1, 5)]
    with kvstash.Store(str(tmp_path), device="cpu") as store:
        model = store.register_model(description())
        for i, p in enumerate(prompts):
            store.insert(model, p, hf_kv(64, seed=10 + i))
        failures = []

        def load(i):
            for _ in range(20):
                back = empty_hf_kv(64)
                if store.load(model, prompts[i], back).tokens != 64 or \
                        not same_prefix(hf_kv(64, seed=10 + i), back, 64):
                    failures.append(i)

        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []


def test_pins_name_a_stored_prefix(tmp_path):
    tokens = list(range(1, 41))
    with kvstash.Store(str(tmp_path), device="cpu") as store:
        model = store.register_model(description())
        with pytest.raises(kvstash.NotFoundError, match="only 0 of 40 tokens"):
            store.pin("system-prompt", model, tokens)
        store.insert(model, tokens, hf_kv(40))
        store.pin("system-prompt", model, tokens)
        store.unpin("system-prompt")
        with pytest.raises(kvstash.NotFoundError):
            store.unpin("system-prompt")
    with kvstash.Store(device="cpu") as memory_only:
        model = memory_only.register_model(description())
        with pytest.raises(kvstash.NotSupportedError, match="no disk tier"):
            memory_only.pin("p", model, tokens)
