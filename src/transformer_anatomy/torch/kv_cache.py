"""Key/value cache for incremental (token-by-token) decoding.

Without a cache, generating token ``t`` re-runs the decoder over all ``t`` positions: O(T²)
projections for a length-T output. Because the decoder is causal, the keys and values of
positions ``< t`` never change once computed, so each step needs only the newest position's
projections plus the stored ones. Cross-attention keys and values depend only on the encoder
output and are computed once.

Page: ``docs/own-transformer.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["KVCache"]


# --8<-- [start:kv_cache]
@dataclass
class KVCache:
    """Per decoder layer: a dict with

    - ``self_k``, ``self_v``: ``(N, H, t, E/H)`` keys/values of the ``t`` positions decoded so far;
    - ``self_pad``: ``(N, t)`` bool, their key padding mask (present once a pad was fed);
    - ``cross_k``, ``cross_v``: ``(N, H, S, E/H)`` the encoder output projected once;
    - ``memory_pad``: ``(N, S)`` bool source key padding mask (absent if no padding).

    ``length`` is ``t``, the number of target positions already in the cache.

    Shape:
        ``layers``: one dict per decoder layer. self_k, self_v: ``(N, H, t, E/H)``;
        self_pad: ``(N, t)`` bool (both grow along the ``t`` axis each decoding step);
        cross_k, cross_v: ``(N, H, S, E/H)``; memory_pad: ``(N, S)`` bool.
        :meth:`reorder`: index ``(N,)`` int, rows of the batch; every shape is kept.

    Examples:
        >>> import torch; z = torch.zeros(2, 4, 3, 8)  # (N, H, t, E/H)
        >>> KVCache([{"self_k": z, "self_v": z}], length=3).memory_bytes()  # 2 x 192 float32 x 4 bytes
        1536
    """

    layers: list[dict[str, Tensor]] = field(default_factory=list)
    length: int = 0

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (beam search: each surviving beam's parent).

        Only the self-attention entries move: beams of one source sentence share the same
        cross-attention keys/values, and ``index`` never leaves a sentence's group of beams.
        """
        for layer in self.layers:
            for name in ("self_k", "self_v", "self_pad"):
                if name in layer:
                    layer[name] = layer[name].index_select(0, index)

    def memory_bytes(self) -> int:
        """Bytes held by the cached tensors."""
        return sum(t.numel() * t.element_size() for layer in self.layers for t in layer.values())
# --8<-- [end:kv_cache]

