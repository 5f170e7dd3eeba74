"""Learned positions -> RoPE: the angles, the relative property measured, ours against HF's
LlamaRotaryEmbedding / apply_rotary_pos_emb, RoFormer's interleaved pairs vs HF's halves, and
the backward by finite differences."""

import functools

import numpy as np
import torch
from matplotlib.figure import Figure
from transformers import GPT2Config
from transformers.models.llama import modeling_llama as hf

from gpt2_llama.hf_ref import llama_config, max_diff
from transformer_anatomy.numpy.gradcheck import max_relative_error, numerical_gradient
from transformer_anatomy.numpy.llama import RotaryEmbedding, apply_rotary, apply_rotary_backward
from transformer_anatomy.viz import figure_to_svg


def gpt2_position_table():
    """GPT-2 small's learned position table, from HF's GPT2Config defaults (GPT-2 small)."""
    c = GPT2Config()
    return {"n_positions": c.n_positions, "n_embd": c.n_embd, "parameters": c.n_positions * c.n_embd}


def past_the_table():
    """Feed one token more than n_positions to our GPT-2 and to HF's: the two errors."""
    from gpt2_llama.hf_ref import hf_gpt2
    from transformer_anatomy.numpy.hf import from_hf

    hf_model = hf_gpt2(n_positions=8)
    ids = np.zeros((1, 9), dtype=np.int64)
    out = {}
    for name, run in (("ours", lambda: from_hf(hf_model)(ids)), ("HF", lambda: hf_model(torch.from_numpy(ids)))):
        try:
            run()
            out[name] = None
        except Exception as e:  # noqa: BLE001  (we show whichever error each library raises)
            out[name] = f"{type(e).__name__}: {e}"
    return out


def report_gpt2_position_table():
    t = gpt2_position_table()
    print(f"GPT-2 small: wpe is ({t['n_positions']}, {t['n_embd']}) = {t['parameters']:,} learned numbers; "
          f"position {t['n_positions']} has no row")
    for name, err in past_the_table().items():
        print(f"{name:4} with n_positions = 8, 9 tokens -> {err}")


# --8<-- [start:scores]
def rope_scores(q, k, T=16, theta=10000.0):
    """s[m, n] = RoPE(q, m) · RoPE(k, n): one query and one key vector (D,) placed at every position < T."""
    D = q.shape[-1]
    cos, sin = RotaryEmbedding(D, rope_theta=theta, dtype=np.float64)(np.arange(T))  # (T, D) each
    qs = np.broadcast_to(q, (1, 1, T, D))  # the same vector at every position, (N, H, T, D)
    ks = np.broadcast_to(k, (1, 1, T, D))
    q_rot, k_rot = apply_rotary(qs, ks, cos, sin)  # each position turned by its own angles
    return q_rot[0, 0] @ k_rot[0, 0].T  # (T, D) @ (D, T) -> (T, T)


def spread_per_offset(s):
    """For each offset m - n, max - min of s over the pairs (m, n) with that offset."""
    T = s.shape[0]
    return {d: float(np.ptp(np.diagonal(s, offset=-d))) for d in range(-(T - 1), T)}
# --8<-- [end:scores]


@functools.cache
def relative_property(D=8, T=16, seed=0):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal(D), rng.standard_normal(D)
    s = rope_scores(q, k, T)
    unrotated = np.outer(np.ones(T), np.ones(T)) * (q @ k)
    return {"s": s, "max_spread": max(spread_per_offset(s).values()),
            "s_range": float(np.ptp(s)), "plain": float(unrotated[0, 0])}


def report_relative_property():
    r = relative_property()
    print(f"s[m, n] over all {r['s'].shape[0]}² pairs ranges over {r['s_range']:.3f};")
    print(f"along each diagonal (fixed m - n) it varies by at most {r['max_spread']:.1e}")


def versus_hf(D=8, T=6, seed=0):
    """max |ours - HF| of cos, sin and the rotated q, k (float32, HF's own arithmetic)."""
    rng = np.random.default_rng(seed)
    cfg = llama_config(hidden_size=4 * D, num_attention_heads=4, num_key_value_heads=2)
    pos = np.array([np.arange(T), np.arange(3, 3 + T)])  # (N, T): two rows of positions
    q = rng.standard_normal((2, 4, T, D)).astype(np.float32)
    k = rng.standard_normal((2, 2, T, D)).astype(np.float32)
    cos, sin = RotaryEmbedding(D, rope_theta=cfg.rope_parameters["rope_theta"])(pos)
    ref = hf.LlamaRotaryEmbedding(cfg)
    with torch.no_grad():
        hcos, hsin = ref(torch.from_numpy(q), torch.from_numpy(pos))
        hq, hk = hf.apply_rotary_pos_emb(torch.from_numpy(q), torch.from_numpy(k), hcos, hsin)
    q_rot, k_rot = apply_rotary(q, k, cos, sin)
    return {"cos": max_diff(cos, hcos), "sin": max_diff(sin, hsin), "q_rot": max_diff(q_rot, hq),
            "k_rot": max_diff(k_rot, hk)}


def report_versus_hf():
    print("max |ours - HF| (float32): " + ", ".join(f"{n} {d:.1e}" for n, d in versus_hf().items()))


# --8<-- [start:interleaved]
def rope_interleaved(x, positions, theta=10000.0):
    """RoFormer's (and Meta's original) RoPE: adjacent pairs (2i, 2i+1) as complex numbers."""
    D = x.shape[-1]
    inv_freq = theta ** (-np.arange(0, D, 2) / D)  # θ_i, (D/2,)
    z = x[..., 0::2] + 1j * x[..., 1::2]  # pair i as x_2i + j x_2i+1, (..., T, D/2)
    z = z * np.exp(1j * positions[:, None] * inv_freq)  # turned by m θ_i
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


def halves_order(D):
    """The permutation that makes adjacent pairs into halves: (0, 2, 4, ..., 1, 3, 5, ...)."""
    return np.concatenate([np.arange(0, D, 2), np.arange(1, D, 2)])
# --8<-- [end:interleaved]


def interleaved_vs_halves(D=8, T=6, seed=0):
    """Scores q·k of interleaved RoPE vs HF's halves, with and without permuting coordinates."""
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, 1, T, D)), rng.standard_normal((1, 1, T, D))
    pos = np.arange(T)
    cos, sin = RotaryEmbedding(D, dtype=np.float64)(pos)
    scores = lambda a, b: a[0, 0] @ b[0, 0].T  # noqa: E731
    s_inter = scores(rope_interleaved(q, pos), rope_interleaved(k, pos))
    P = halves_order(D)
    s_perm = scores(*apply_rotary(q[..., P], k[..., P], cos, sin))  # permute, then HF's RoPE
    s_same = scores(*apply_rotary(q, k, cos, sin))  # HF's RoPE on the unpermuted vectors
    vec = max_diff(rope_interleaved(q, pos)[..., P], apply_rotary(q[..., P], k[..., P], cos, sin)[0])
    return {"permuted": max_diff(s_inter, s_perm), "vectors": vec, "unpermuted": max_diff(s_inter, s_same)}


def report_interleaved():
    r = interleaved_vs_halves()
    print(f"interleaved(x)[P] vs halves(x[P]):               max difference {r['vectors']:.1e}")
    print(f"scores, interleaved vs halves on permuted q, k:  max difference {r['permuted']:.1e}")
    print(f"scores, interleaved vs halves on the same q, k:  max difference {r['unpermuted']:.2f}")
    print(f"HF's converter permutes each head's rows of W_q, W_k by P: {converter_permutation()}")


def converter_permutation(H=4, D=8, E=32):
    """HF's converter for Meta's checkpoints permutes the rows of W_q and W_k per head with
    ``w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)``
    (``permute`` in ``convert_llama_weights_to_hf.py``, "permute for sliced rotary"). Is it
    halves_order applied to each head's rows?"""
    w = torch.arange(H * D * E, dtype=torch.float64).reshape(H * D, E)  # rows numbered
    hf_rows = w.view(H, H * D // H // 2, 2, E).transpose(1, 2).reshape(H * D, E)
    ours = np.concatenate([h * D + halves_order(D) for h in range(H)])  # per head, even rows then odd
    return bool(np.array_equal(hf_rows.numpy(), w.numpy()[ours]))


def rope_gradcheck(D=6, T=4, seed=0):
    """apply_rotary_backward against central finite differences (float64, h = 1e-6)."""
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, 2, T, D)), rng.standard_normal((1, 1, T, D))
    wq, wk = rng.standard_normal(q.shape), rng.standard_normal(k.shape)
    cos, sin = RotaryEmbedding(D, dtype=np.float64)(np.arange(T))
    dq, dk = apply_rotary_backward(wq, wk, cos, sin)

    def loss():
        qr, kr = apply_rotary(q, k, cos, sin)
        return float(np.sum(wq * qr) + np.sum(wk * kr))

    return {"dq": max_relative_error(dq, numerical_gradient(loss, q)),
            "dk": max_relative_error(dk, numerical_gradient(loss, k))}


def report_gradcheck():
    print("apply_rotary_backward vs finite differences, max relative error: "
          + ", ".join(f"{n} {e:.1e}" for n, e in rope_gradcheck().items()))


def figure_frequencies(D=128, theta=10000.0, M=256):
    """Wavelength 2π/θ_i of each pair, and cos(m θ_i) over positions m, for Llama's head size."""
    inv_freq = RotaryEmbedding(D, rope_theta=theta, dtype=np.float64).inv_freq  # (D/2,)
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b = fig.subplots(1, 2, width_ratios=(1, 1.4))
    a.semilogy(np.arange(D // 2), 2 * np.pi / inv_freq, color="#1f77b4")
    a.set_xlabel("pair i (coordinates i and i + D/2)")
    a.set_ylabel("wavelength 2π/θᵢ (positions)")
    a.set_title("one turn takes", fontsize=10)
    angles = np.arange(M)[:, None] * inv_freq  # (M, D/2)
    im = b.imshow(np.cos(angles).T, aspect="auto", cmap="viridis", origin="lower", vmin=-1, vmax=1)
    b.set_xlabel("position m")
    b.set_ylabel("pair i")
    b.set_title("cos(m θᵢ)", fontsize=10)
    fig.colorbar(im, ax=b, shrink=0.9)
    lo, hi = 2 * np.pi / inv_freq[0], 2 * np.pi / inv_freq[-1]
    return figure_to_svg(fig, alt=f"Left: the wavelength of each of the {D // 2} rotation pairs on a log scale, "
                         f"from {lo:.1f} positions for pair 0 to about {hi:,.0f} for the last pair. Right: cos of "
                         f"m times theta_i as a heatmap over positions and pairs: fast stripes for the first pairs, "
                         f"nearly constant for the last ones",
                         caption=f"RoPE angles for D = {D}, θ = {theta:g} (Llama's head size and base): "
                                 "each pair is a clock hand, the first ones fast, the last ones slow.")


def figure_scores():
    """s[m, n] as a heatmap (constant along diagonals) and as a curve against m - n."""
    r = relative_property()
    s = r["s"]
    T = s.shape[0]
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b = fig.subplots(1, 2, width_ratios=(1, 1.4))
    im = a.imshow(s, cmap="viridis")
    a.set_xlabel("key position n")
    a.set_ylabel("query position m")
    a.set_title("RoPE(q, m) · RoPE(k, n)", fontsize=10)
    fig.colorbar(im, ax=a, shrink=0.9)
    offsets = np.arange(-(T - 1), T)
    b.plot(offsets, [np.diagonal(s, offset=-d).mean() for d in offsets], marker="o", ms=3, color="#1f77b4")
    b.axhline(r["plain"], color="#d62728", ls="--", lw=1, label="q · k without RoPE")
    b.set_xlabel("offset m − n (positions)")
    b.set_ylabel("score")
    b.legend(fontsize=8, frameon=False)
    b.set_title("the same score wherever the pair sits", fontsize=10)
    return figure_to_svg(fig, alt="Left: a heatmap of the score of one query and one key placed at every pair of "
                         "positions; it is constant along every diagonal. Right: the score against the offset m "
                         "minus n, one value per offset, beside the dashed score without rotation",
                         caption=f"One random query and key (D = 8) at all {T}² pairs of positions: "
                                 "the score depends only on m − n.")
