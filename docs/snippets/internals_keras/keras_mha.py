"""Keras 3 MultiHeadAttention on the torch backend: its weights, our MultiheadAttention reproducing it, its masks."""

import math
import os

os.environ["KERAS_BACKEND"] = "torch"  # must be set before keras is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from transformer_anatomy.torch import MultiheadAttention  # noqa: E402
from transformer_anatomy.viz import figure_to_svg, plot_mask_grid  # noqa: E402


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


# --8<-- [start:keras_to_ours]
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
# --8<-- [end:keras_to_ours]


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


# --8<-- [start:torch_mask]
def torch_mask(allowed, H):
    """Keras (N, T, S) True = attend -> PyTorch attn_mask (N*H, T, S) True = blocked."""
    return torch.from_numpy(~allowed).repeat_interleave(H, dim=0)  # one copy per head, batch-major
# --8<-- [end:torch_mask]


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
    for n in range(allowed.shape[0]):
        print(f"Keras attention_mask, sequence {n} (1 = may attend), rows = queries:\n", allowed[n].astype(int))
    empty = [(n, t) for n, t in zip(*np.nonzero(~allowed.any(-1)))]
    print("query rows with no key to attend to (sequence, query):", [(int(n), int(t)) for n, t in empty])
    for name, diff in conventions().items():
        print(f"{name:30s} max |diff| vs keras = {diff:.1e}")


def report_fully_masked():
    """Print what each implementation does with the fully masked row."""
    for name, (what, row) in fully_masked_row().items():
        print(f"{name:30s} {what}")
        print(f"{'':30s} first values {np.array2string(row[:4], precision=4)}")


def mask_figure():
    """Keras' mask for both sequences (True = attend) and the inverted PyTorch mask of sequence 1."""
    _, _, _, _, _, allowed = setup()
    T, S = allowed.shape[1:]
    panels = {  # title -> (the mask as given, its cells that may not attend)
        "Keras, sequence 0\nTrue = may attend": (allowed[0], ~allowed[0]),
        "Keras, sequence 1\nTrue = may attend": (allowed[1], ~allowed[1]),
        "PyTorch attn_mask, sequence 1\nTrue = blocked": (~allowed[1], ~allowed[1]),
    }
    fig = plot_mask_grid({name: blocked for name, (_, blocked) in panels.items()},
                         row_labels=[f"q{t}" for t in range(T)], col_labels=[f"k{s}" for s in range(S)],
                         cell_text={name: np.where(m, "1", "0") for name, (m, _) in panels.items()},
                         xlabel=None, ylabel=None, figsize=(8, 2.8), fontsize=7)
    return fig, allowed


def report_mask_figure():
    fig, allowed = mask_figure()
    print(figure_to_svg(fig, alt="Grids of the Keras attention mask for two sequences and of the inverted "
                        "PyTorch mask for the second; one query row of the second sequence allows no key",
                        caption="Grey hatched: may not attend. Each cell shows the mask's value; rows are queries."))
    per_row = allowed.sum(-1)  # (N, T): keys each query may attend to
    print("<p>Keys each query may attend to: " + "; ".join(
        f"sequence {n}: {', '.join(str(int(k)) for k in per_row[n])}" for n in range(len(per_row))) + ".</p>")


def weights_side_by_side(seed=0):
    """Per-head weights of sequence 1 from Keras' explicit path (return_attention_scores) and from ours."""
    layer, ours, _, x, kv, allowed = setup(seed=seed)
    H = layer.num_heads
    _, scores = layer(x, kv, attention_mask=allowed, return_attention_scores=True)  # (N, H, T, S)
    with torch.no_grad():
        _, w = ours(torch.from_numpy(x), torch.from_numpy(kv), torch.from_numpy(kv),
                    attn_mask=torch_mask(allowed, H), average_attn_weights=False)
    return _np(scores), w.numpy(), allowed


def weights_figure(keras_w, ours_w):
    H = keras_w.shape[1]
    fig = Figure(figsize=(8, 2.6), layout="constrained")
    axes = fig.subplots(1, 2 * H, sharey=True)
    for h in range(H):
        for k, (who, w) in enumerate((("Keras", keras_w), ("ours", ours_w))):
            ax = axes[2 * h + k]
            im = ax.imshow(w[1, h], cmap="magma", vmin=0, vmax=1)
            ax.set_title(f"{who}, head {h}", fontsize=8)
            ax.set_yticks(range(w.shape[2]), [f"q{t}" for t in range(w.shape[2])], fontsize=7)
            ax.set_xticks(range(w.shape[3]), [f"k{s}" for s in range(w.shape[3])], fontsize=7)
            ax.set_xlabel("key", fontsize=7)
    axes[0].set_ylabel("query", fontsize=7)
    fig.colorbar(im, ax=list(axes), shrink=0.9, label="weight")
    return fig


def report_weights_figure():
    keras_w, ours_w, allowed = weights_side_by_side()
    print(figure_to_svg(weights_figure(keras_w, ours_w), alt="Attention weight heatmaps of sequence 1 per head, "
                        "Keras' explicit path next to ours; the fully masked query row is all zeros in both",
                        caption="Sequence 1, both heads: Keras (return_attention_scores=True) and ours."))
    live = allowed.any(-1)[:, None, :]  # (N, 1, T)
    diff = float(np.abs(keras_w - ours_w).max())
    print(f"<p>Max |Keras − ours| over all weights: {diff:.1e}. Row sums of sequence 1, head 0: "
          f"{np.array2string(keras_w[1, 0].sum(-1), precision=3)} (Keras), "
          f"{np.array2string(ours_w[1, 0].sum(-1), precision=3)} (ours); "
          f"{int((~live).sum())} query row has no key to attend to.</p>")
