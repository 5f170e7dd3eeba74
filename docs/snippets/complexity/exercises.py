"""Solutions to the exercises of docs/complexity.md (the page shows them; tests/docs/test_complexity_snippets.py checks them)."""


# --8<-- [start:crossover]
def crossover_length(E, F):
    """Length n where attention's n² FLOPs (4n²E) equal the layer's linear ones (8nE² + 4nEF)."""
    # 4n²E = 8nE² + 4nEF  ->  divide by 4nE  ->  n = 2E + F
    return 2 * E + F
# --8<-- [end:crossover]


# --8<-- [start:weights_bytes]
def attention_weights_bytes(N, H, S, bytes_per_float=4):
    """Bytes of the (N, H, S, S) attention weights an explicit softmax(QKᵀ/√d)V saves for backward."""
    return N * H * S * S * bytes_per_float
# --8<-- [end:weights_bytes]


# --8<-- [start:training_flops]
def training_step_flops(N, S, E, F):
    """Matmul FLOPs of one training step (forward + backward) of an encoder layer whose input needs a gradient."""
    forward = 8 * N * S * E * E + 4 * N * S * S * E + 4 * N * S * E * F
    return 3 * forward  # the backward does two products of each forward product's size
# --8<-- [end:training_flops]
