"""Solutions to the exercises of docs/self-assessment.md (tests/docs/test_misconceptions_snippets.py checks them)."""

import torch


# --8<-- [start:teacher_forcing]
def teacher_forcing(target, sos, eos):
    """Decoder input and target of a batch of target sequences (N, L) without special tokens.

    Returns ``tgt_in = <sos> y1 … yL`` and ``tgt_out = y1 … yL <eos>``, both (N, L + 1): position t
    reads the tokens before y_(t+1) and is scored on y_(t+1).
    """
    N = target.shape[0]
    sos_col, eos_col = torch.full((N, 1), sos), torch.full((N, 1), eos)
    return torch.cat([sos_col, target], dim=1), torch.cat([target, eos_col], dim=1)
# --8<-- [end:teacher_forcing]


# --8<-- [start:quadratic_crossover]
def quadratic_crossover(E, F):
    """Sequence length from which a layer's quadratic FLOPs (4n²E) exceed its linear ones (8nE² + 4nEF)."""
    return 2 * E + F
# --8<-- [end:quadratic_crossover]


# --8<-- [start:dot_product_std]
def dot_product_std(d, n=20000, seed=0):
    """Measured std of q·k for q, k with d independent N(0, 1) entries (theory: √d)."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    return float((q * k).sum(-1).std())
# --8<-- [end:dot_product_std]
