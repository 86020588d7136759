"""kvstash: a persistent prompt (KV) cache for PyTorch inference.

    import kvstash, torch
    with kvstash.Store("/var/cache/kvstash") as store:
        model = store.register_model({...})        # the model's description
        got = store.load(model, tokens, kv)         # kv: [(key, value), ...] per layer
        # ... prefill tokens[got.tokens:] ...
        store.insert(model, tokens, kv)

See README.md ("Python") for a complete example.
"""

import torch  # noqa: F401  (loads libtorch before the extension needs it)

from ._kvstash import (  # noqa: F401
    AbortedError,
    BusyError,
    CorruptionError,
    Engine,
    Error,
    InsertResult,
    InvalidArgumentError,
    IOError,
    LoadResult,
    NotFoundError,
    NotSupportedError,
    ResourceExhaustedError,
    Store,
    model_description_from_hf,
)

__all__ = [
    "Store", "Engine", "model_description_from_hf", "LoadResult", "InsertResult", "Error", "NotFoundError", "CorruptionError",
    "InvalidArgumentError", "IOError", "NotSupportedError", "BusyError", "AbortedError",
    "ResourceExhaustedError",
]
