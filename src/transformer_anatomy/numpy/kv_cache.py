"""Key/value cache for incremental (token-by-token) decoding, NumPy twin of
:mod:`transformer_anatomy.torch.kv_cache`.

Without a cache, generating token ``t`` re-runs the model over all ``t`` positions. Because
the attention is causal, the keys and values of positions ``< t`` never change once computed,
so each step needs only the newest position's projections plus the stored ones.

Page: ``docs/own-transformer.md`` (the cache) and ``docs/gpt2-llama.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["KVCache"]


# --8<-- [start:kv_cache]
@dataclass
class KVCache:
    """Per layer: a dict of cached arrays; ``length`` is ``t``, the positions already in the cache.

    Decoder-only models (GPT-2, Llama) use the keys ``self_k`` and ``self_v``:
    ``(N, Hk, t, D)``, the rotated (Llama) keys and the values of the ``t`` positions so far,
    one entry per key/value head. The encoder-decoder keys of the torch twin (``self_pad``,
    ``cross_k``, ``cross_v``, ``memory_pad``) are allowed too.

    Shape:
        ``layers``: one dict per layer; self_k, self_v: ``(N, Hk, t, D)`` (they grow along
        the ``t`` axis with every forward). :meth:`reorder`: index ``(N',)`` ints, rows of
        the batch.

    Examples:
        >>> z = np.zeros((2, 4, 3, 8), dtype=np.float32)  # (N, Hk, t, D)
        >>> KVCache([{"self_k": z, "self_v": z}], length=3).memory_bytes()  # 2 x 192 float32 x 4 bytes
        1536
    """

    layers: list[dict[str, np.ndarray]] = field(default_factory=list)
    length: int = 0

    def reorder(self, index: Any) -> None:
        """Keep batch rows ``index`` (beam search: each surviving beam's parent).

        Only the self-attention entries move (``self_k``, ``self_v``, ``self_pad``), as in the
        torch twin.
        """
        index = np.asarray(index)
        if index.dtype.kind not in "iu" or index.ndim != 1:
            raise TypeError(f"index must be a 1-D integer array, got dtype {index.dtype} and shape {index.shape}")
        for layer in self.layers:
            for name in ("self_k", "self_v", "self_pad"):
                if name in layer:
                    layer[name] = layer[name][index]

    def memory_bytes(self) -> int:
        """Bytes held by the cached arrays."""
        return int(sum(a.nbytes for layer in self.layers for a in layer.values()))
# --8<-- [end:kv_cache]
