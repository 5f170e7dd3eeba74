"""Solutions to the exercises of docs/internals-keras.md (shown on the page, checked by tests/docs/test_internals_keras.py)."""

import numpy as np


# --8<-- [start:kernel]
def torch_weight_from_kernel(kernel):
    """A Keras projection kernel (E, H, D) -> PyTorch's (out_features, in_features) = (H*D, E)."""
    E, H, D = kernel.shape
    return kernel.reshape(E, H * D).T  # heads side by side in the output rows, as in in_proj_weight
# --8<-- [end:kernel]


# --8<-- [start:mask]
def keras_mask_from_key_padding(key_padding_mask, T):
    """PyTorch key_padding_mask (N, S), True = padding -> Keras attention_mask (N, T, S), True = may attend."""
    return np.broadcast_to(~key_padding_mask[:, None, :], (key_padding_mask.shape[0], T, key_padding_mask.shape[1]))
# --8<-- [end:mask]
