"""Solutions to the exercises of docs/three-families.md (checked by
tests/docs/test_three_families_snippets.py)."""

from __future__ import annotations


# --8<-- [start:layer_params]
def layer_params(E, F, cross_attention=False):
    """Parameters of one post-norm encoder layer, or (cross_attention=True) one 2017
    decoder layer, with biases: attention 4E² + 4E (Q, K, V, output), feed-forward
    2EF + F + E, and a LayerNorm (2E) after each sublayer."""
    attention = 4 * E * E + 4 * E
    ffn = 2 * E * F + F + E
    n_sub = 3 if cross_attention else 2  # the decoder adds cross-attention, its norm
    return (n_sub - 1) * attention + ffn + n_sub * 2 * E
# --8<-- [end:layer_params]


# --8<-- [start:cross_share]
def cross_attention_share(E, F=None):
    """What cross-attention and its norm add to a layer, as a share of an encoder layer."""
    F = 4 * E if F is None else F
    return (layer_params(E, F, True) - layer_params(E, F)) / layer_params(E, F)
# --8<-- [end:cross_share]


# --8<-- [start:who_sees_all]
def positions_that_see_everything(depends):
    """Output positions whose value depends on every input position (all-True rows)."""
    return [int(i) for i, row in enumerate(depends) if row.all()]
# --8<-- [end:who_sees_all]
