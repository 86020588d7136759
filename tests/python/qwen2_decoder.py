"""A Llama/Qwen2 decoder in plain PyTorch, computed the way transformers'
modeling code computes it (RMSNorm, rotary embeddings, grouped-query
attention, SwiGLU), over a transformers-layout KV cache: per layer (key,
value), each [1, kv_heads, capacity, head_dim], keys after the rotary
embedding. For the tests: it runs `kvstash mkmodel` models (f32)."""

import json
import math
import os
import struct

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + start:base + end]), dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


class Qwen2:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c["num_key_value_heads"]
        self.hidden = c["hidden_size"]
        self.head_dim = c.get("head_dim", self.hidden // self.heads)
        self.eps = c["rms_norm_eps"]
        self.theta = c["rope_theta"]
        self.w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.lm_head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def new_cache(self, capacity):
        return [(torch.zeros(1, self.kv_heads, capacity, self.head_dim),
                 torch.zeros(1, self.kv_heads, capacity, self.head_dim))
                for _ in range(self.layers)]

    def rms_norm(self, x, weight):
        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(variance + self.eps))

    def rope(self, positions):
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.int64)
                                         .float() / self.head_dim))
        freqs = positions.float()[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def linear(self, x, name):
        y = x @ self.w[name + ".weight"].t()
        bias = self.w.get(name + ".bias")
        return y + bias if bias is not None else y

    @torch.no_grad()
    def forward(self, tokens, pos, cache):
        """Runs tokens at positions [pos, pos + len(tokens)), writing their K/V
        into `cache`; returns the logits of the last one, [vocab] (f32)."""
        n = len(tokens)
        h = self.w["model.embed_tokens.weight"][torch.tensor(tokens)][None]  # [1, n, hidden]
        cos, sin = self.rope(torch.arange(pos, pos + n))
        causal = torch.full((n, pos + n), float("-inf")).triu(pos + 1)
        for l in range(self.layers):
            p = "model.layers.%d." % l
            x = self.rms_norm(h, self.w[p + "input_layernorm.weight"])
            q = self.linear(x, p + "self_attn.q_proj").view(1, n, self.heads, self.head_dim)
            k = self.linear(x, p + "self_attn.k_proj").view(1, n, self.kv_heads, self.head_dim)
            v = self.linear(x, p + "self_attn.v_proj").view(1, n, self.kv_heads, self.head_dim)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            cache[l][0][:, :, pos:pos + n] = k
            cache[l][1][:, :, pos:pos + n] = v
            keys = cache[l][0][:, :, :pos + n].repeat_interleave(self.heads // self.kv_heads, dim=1)
            values = cache[l][1][:, :, :pos + n].repeat_interleave(self.heads // self.kv_heads, dim=1)
            scores = q @ keys.transpose(2, 3) / math.sqrt(self.head_dim) + causal
            attn = torch.softmax(scores.float(), dim=-1) @ values
            attn = attn.transpose(1, 2).reshape(1, n, self.heads * self.head_dim)
            h = h + self.linear(attn, p + "self_attn.o_proj")
            x = self.rms_norm(h, self.w[p + "post_attention_layernorm.weight"])
            gate = self.linear(x, p + "mlp.gate_proj")
            up = self.linear(x, p + "mlp.up_proj")
            h = h + self.linear(torch.nn.functional.silu(gate) * up, p + "mlp.down_proj")
        h = self.rms_norm(h, self.w["model.norm.weight"])
        return (h[0, -1] @ self.lm_head.t()).float()
