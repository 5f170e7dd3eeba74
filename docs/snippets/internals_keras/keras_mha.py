"""Keras 3 MultiHeadAttention on the torch backend: its weights, our MultiheadAttention reproducing it, its masks."""

import math
import os

os.environ["KERAS_BACKEND"] = "torch"  # must be set before keras is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from transformer_anatomy.torch import MultiheadAttention  # noqa: E402


def keras_mha(E=8, H=2, seed=0, random_bias=True):
    """A built keras.layers.MultiHeadAttention(num_heads=H, key_dim=E/H); biases random so they are checked too."""
    layer = keras.layers.MultiHeadAttention(
        num_heads=H, key_dim=E // H,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=seed + 1) if random_bias else "zeros")
    x = np.zeros((1, 3, E), dtype="float32")
    layer(x, x)  # the first call builds the weights
    return layer


def weight_table(layer):
    """(path, shape) of every weight of the layer."""
    return [(w.path, tuple(w.shape)) for w in layer.weights]


def _np(x):
    """A Keras variable or a layer output (a torch tensor on this backend) as a NumPy array."""
    x = getattr(x, "value", x)  # a keras Variable holds a torch tensor in .value
    return x.detach().cpu().numpy()


def keras_to_ours(layer):
    """Our MultiheadAttention(E, H, batch_first=True) holding the Keras layer's weights."""
    q_k, k_k, v_k = (_np(d.kernel) for d in (layer.query_dense, layer.key_dense, layer.value_dense))  # (E, H, E/H) each
    E, H, D = q_k.shape
    ours = MultiheadAttention(E, H, batch_first=True).eval()
    w = np.concatenate([k.reshape(E, H * D).T for k in (q_k, k_k, v_k)])  # 3 x (E, H, D) -> 3 x (E, H*D) -> 3 x (H*D, E) -> (3E, E)
    b = np.concatenate([_np(d.bias).reshape(H * D) for d in (layer.query_dense, layer.key_dense, layer.value_dense)])  # 3 x (H, D) -> (3E,)
    out_w = _np(layer.output_dense.kernel).reshape(H * D, E).T  # (H, D, E) -> (H*D, E) -> (E, H*D)
    state = {"in_proj_weight": w, "in_proj_bias": b,
             "out_proj.weight": out_w, "out_proj.bias": _np(layer.output_dense.bias)}
    ours.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True)
    return ours


def compare(E=8, H=2, N=2, T=4, S=6, seed=0):
    """Max |ours - Keras| for self- and cross-attention, without and with a key padding mask."""
    layer = keras_mha(E, H, seed)
    ours = keras_to_ours(layer)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, E)).astype("float32")
    kv = rng.standard_normal((N, S, E)).astype("float32")
    pad = np.zeros((N, S), dtype=bool)
    pad[1, 4:] = True  # True = padding (PyTorch's convention)
    allowed = np.broadcast_to(~pad[:, None, :], (N, T, S))  # Keras: (N, T, S), True = may attend
    t = torch.from_numpy
    rows = {}
    with torch.no_grad():
        rows["self-attention"] = (_np(layer(x, x)), ours(t(x), t(x), t(x))[0].numpy())
        rows["cross-attention"] = (_np(layer(x, kv)), ours(t(x), t(kv), t(kv))[0].numpy())
        rows["cross-attention, padded keys"] = (_np(layer(x, kv, attention_mask=allowed)),
                                                ours(t(x), t(kv), t(kv), key_padding_mask=t(pad))[0].numpy())
    return {name: float(np.abs(a - b).max()) for name, (a, b) in rows.items()}


def init_bounds(E=256, H=8, seed=0):
    """Keras initialises each projection with Glorot on its own (fan_in E, fan_out H*E/H), torch the packed (3E, E)."""
    layer = keras_mha(E, H, seed, random_bias=False)
    kernel = _np(layer.query_dense.kernel)  # (E, H, E/H)
    return {"keras max |query kernel|": float(np.abs(kernel).max()),
            "keras bound sqrt(6/(E + E))": math.sqrt(6 / (2 * E)),
            "torch bound sqrt(6/(E + 3E))": math.sqrt(6 / (4 * E)),
            "keras biases all zero": all(float(np.abs(_np(w)).max()) == 0.0 for w in layer.weights if w.path.endswith("bias"))}


def report_weights():
    """Print the weights of MultiHeadAttention(num_heads=2, key_dim=4) on inputs of width 8."""
    print(f"keras {keras.__version__}, backend {keras.backend.backend()!r}")
    for path, shape in weight_table(keras_mha(8, 2)):
        print(f"  {path:45s} {shape}")
    print("\nnum_heads=8, key_dim=32, inputs of width E=256, default initialisers:")
    for name, value in init_bounds(E=256, H=8).items():
        print(f"{name:30s} {value:.6f}" if not isinstance(value, bool) else f"{name:30s} {value}")


def report_compare():
    """Print the comparison with our MultiheadAttention."""
    for name, diff in compare().items():
        print(f"{name:30s} max |ours - keras| = {diff:.1e}")


# --- masks ------------------------------------------------------------------------------------


def setup(E=8, H=2, N=2, T=4, S=5, seed=0):
    """A Keras layer, ours and nn.MultiheadAttention with its weights, inputs, and a Keras mask.

    The mask ``allowed`` (N, T, S) is True where a query may attend; query 2 of sequence 2 may attend to nothing.
    """
    layer = keras_mha(E, H, seed)
    ours = keras_to_ours(layer)
    ref = nn.MultiheadAttention(E, H, batch_first=True).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, E)).astype("float32")
    kv = rng.standard_normal((N, S, E)).astype("float32")
    allowed = np.tril(np.ones((T, S), dtype=bool), k=1)[None].repeat(N, axis=0)  # a banded (N, T, S) pattern
    allowed[1, 2, :] = False  # a query row with nothing to attend to
    return layer, ours, ref, x, kv, allowed


def torch_mask(allowed, H):
    """Keras (N, T, S) True = attend -> PyTorch attn_mask (N*H, T, S) True = blocked."""
    return torch.from_numpy(~allowed).repeat_interleave(H, dim=0)  # one copy per head, batch-major


def conventions(seed=0):
    """Max |torch - keras| on the rows that have something to attend to: mask inverted vs passed unchanged."""
    layer, ours, ref, x, kv, allowed = setup(seed=seed)
    H = layer.num_heads
    live = allowed.any(-1)  # (N, T): query rows with at least one key
    k_out = _np(layer(x, kv, attention_mask=allowed))
    t = torch.from_numpy
    with torch.no_grad():
        right = ref(t(x), t(kv), t(kv), attn_mask=torch_mask(allowed, H), need_weights=False)[0].numpy()
        wrong = ref(t(x), t(kv), t(kv), attn_mask=torch_mask(~allowed, H), need_weights=False)[0].numpy()
        ours_out = ours(t(x), t(kv), t(kv), attn_mask=torch_mask(allowed, H))[0].numpy()
    return {"nn.MHA, mask inverted": float(np.abs(right - k_out)[live].max()),
            "nn.MHA, Keras mask unchanged": float(np.abs(wrong - k_out)[live].max()),
            "ours, mask inverted": float(np.abs(ours_out - k_out)[live].max())}


def fully_masked_row(seed=0):
    """What each implementation returns for the query row whose keys are all masked."""
    layer, ours, ref, x, kv, allowed = setup(seed=seed)
    H = layer.num_heads
    t = torch.from_numpy
    bias = ours.out_proj.bias.detach().numpy()  # the output if attention contributes zero
    with torch.no_grad():
        v = nn.functional.linear(t(kv), *[p[2 * len(bias):] for p in (ours.in_proj_weight, ours.in_proj_bias)])  # (N, S, E)
        uniform = ours.out_proj(v.mean(dim=1)).numpy()  # (N, E): output if every key got weight 1/S
        results = {
            "keras, default call": _np(layer(x, kv, attention_mask=allowed))[1, 2],
            "keras, return_attention_scores": _np(layer(x, kv, attention_mask=allowed, return_attention_scores=True)[0])[1, 2],
            "nn.MHA, need_weights=True": ref(t(x), t(kv), t(kv), attn_mask=torch_mask(allowed, H))[0].numpy()[1, 2],
            "nn.MHA, need_weights=False": ref(t(x), t(kv), t(kv), attn_mask=torch_mask(allowed, H), need_weights=False)[0].numpy()[1, 2],
            "ours": ours(t(x), t(kv), t(kv), attn_mask=torch_mask(allowed, H))[0].numpy()[1, 2],
        }

    def describe(row):
        if np.isnan(row).any():
            return "NaN"
        if np.allclose(row, bias, atol=1e-6):
            return "output bias only (attention output = 0)"
        if np.allclose(row, uniform[1], atol=1e-5):
            return "uniform over all S keys, masked ones too"
        return "something else"

    return {name: (describe(row), row) for name, row in results.items()}


def report_conventions():
    """Print the convention check."""
    _, _, _, _, _, allowed = setup()
    print("Keras attention_mask for sequence 1 (True = may attend):\n", allowed[0].astype(int))
    for name, diff in conventions().items():
        print(f"{name:30s} max |diff| vs keras = {diff:.1e}")


def report_fully_masked():
    """Print what each implementation does with the fully masked row."""
    for name, (what, row) in fully_masked_row().items():
        print(f"{name:30s} {what}")
        print(f"{'':30s} first values {np.array2string(row[:4], precision=4)}")
