"""Measurements behind the self-assessment answers on positions, encoder and decoder, residuals,
LayerNorm, ``model(input_ids)``, fine-tuning and BERT against GPT (docs/self-assessment.md).

Everything runs on the spot on tiny models with random weights (nothing is downloaded), except
the fine-tuning numbers, which are read from docs/results/pretraining.json."""

import json

import torch
from torch import nn

from results_io import RESULTS

from transformer_anatomy.numpy import sinusoidal_table


def _encoder_layer(E=16, H=2, seed=0):
    torch.manual_seed(seed)
    return nn.TransformerEncoderLayer(E, H, dim_feedforward=32, dropout=0.0, batch_first=True,
                                      dtype=torch.float64).eval()


def permutation_check(E=16, S=5, seed=0):
    """Shuffle the tokens of a sentence: without positions the outputs are the same rows shuffled
    (the layer cannot tell the orders apart); with the sinusoidal encoding they are not."""
    layer = _encoder_layer(E, seed=seed)
    pos = torch.from_numpy(sinusoidal_table(S, E))  # (S, E), added to the token vectors
    pe = lambda v: v + pos  # noqa: E731
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, S, E, generator=g, dtype=torch.float64)  # (1, S, E) token vectors
    perm = torch.randperm(S, generator=g)
    with torch.no_grad():
        plain = (layer(x[:, perm]) - layer(x)[:, perm]).abs().max().item()
        with_pe = (layer(pe(x[:, perm])) - layer(pe(x))[:, perm]).abs().max().item()
    return {"permutation": perm.tolist(), "without positions": plain, "with positions": with_pe}


def report_permutation():
    r = permutation_check()
    print(f"tokens reordered as {r['permutation']}; max |layer(shuffled x) - shuffled layer(x)|:")
    print(f"  without positions: {r['without positions']:.1e}   (the same rows, shuffled)")
    print(f"  with the sinusoidal encoding added: {r['with positions']:.2f}")


def future_leak(seed=0):
    """Change the last token of a sentence and measure how much the first position's output moves,
    in an encoder layer (no mask) and in a decoder-style layer (causal mask)."""
    layer = _encoder_layer(seed=seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 4, 16, generator=g, dtype=torch.float64)
    y = x.clone()
    y[0, -1] = torch.randn(16, generator=g, dtype=torch.float64)  # a different last token
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    with torch.no_grad():
        enc = (layer(x) - layer(y))[0, 0].abs().max().item()
        dec = (layer(x, src_mask=causal, is_causal=True) - layer(y, src_mask=causal, is_causal=True))[0, 0].abs().max().item()
    return {"encoder": enc, "causal": dec}


def report_future_leak():
    r = future_leak()
    print("change the last of four tokens; max change of the FIRST position's output:")
    print(f"  encoder self-attention (no mask):   {r['encoder']:.3f}")
    print(f"  decoder self-attention (causal):    {r['causal']:.1e}")


def residual_gradient(depth=8):
    """‖dL/dx‖ at the input of a stack of feed-forward blocks, with and without x + f(x) (‖dL/dy‖ = 1)."""
    from blocks.residual_gradient import input_gradient_norms

    return input_gradient_norms(depth)


def report_residual(depth=8):
    g = residual_gradient(depth)
    print(f"{depth} feed-forward blocks, a gradient of norm 1 at the top; its norm at the input:")
    for k, v in g.items():
        print(f"  {k:17} {v:.2e}")


def layer_norm_rows():
    """Two rows that differ by a shift and a scale come out of LayerNorm identical."""
    ln = nn.LayerNorm(4, dtype=torch.float64)
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0], [1000.0, 2000.0, 3000.0, 6000.0]], dtype=torch.float64) + \
        torch.tensor([[0.0], [500.0]], dtype=torch.float64)
    with torch.no_grad():
        y = ln(x)
    return x, y


def report_layer_norm():
    x, y = layer_norm_rows()
    for i in range(2):
        print(f"row {i}: {x[i].tolist()} -> {[round(v, 3) for v in y[i].tolist()]}  "
              f"(mean {y[i].mean().item():+.1e}, std {y[i].std(unbiased=False).item():.4f})")
    print(f"max |LN(row 0) - LN(row 1)| = {(y[0] - y[1]).abs().max().item():.1e}: shift and scale are gone "
          "(what is left is the ε = 1e-5 under the square root, which weighs more on the small row)")


def tiny_bert(seed=0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=16, attn_implementation="eager")
    return BertModel(cfg).eval()


def inside_model_call(seed=0):
    """The modules a tiny BertModel runs for ``model(input_ids)``, in order, with their output shapes."""
    model = tiny_bert(seed)
    calls = []
    watched = {"embeddings.word_embeddings", "embeddings.position_embeddings", "embeddings.token_type_embeddings",
               "embeddings.LayerNorm", "pooler"}
    watched |= {f"encoder.layer.{i}.{part}" for i in range(model.config.num_hidden_layers)
                for part in ("attention.self", "attention.output", "intermediate", "output")}

    def hook(name):
        def f(module, args, out):
            out = out[0] if isinstance(out, tuple) else out
            calls.append((name, tuple(out.shape)))
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n in watched]
    ids = torch.tensor([[2, 7, 9, 11, 3]])  # (N, S) = (1, 5)
    with torch.no_grad():
        out = model(ids)
    for h in handles:
        h.remove()
    return calls, tuple(out.last_hidden_state.shape), tuple(out.pooler_output.shape)


def report_inside_model_call():
    calls, last, pooled = inside_model_call()
    print("BertModel(ids), ids (N, S) = (1, 5); modules in the order they ran -> output shape:")
    for name, shape in calls:
        print(f"  {name:38} {shape}")
    print(f"returns last_hidden_state {last} and pooler_output {pooled}")


def tiny_gpt2(seed=0):
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=16, bos_token_id=0, eos_token_id=0,
                     attn_implementation="eager")
    return GPT2Model(cfg).eval()


def bert_vs_gpt(seed=0):
    """Change the last token: how much does the FIRST position's hidden state move in BERT and in GPT-2?"""
    bert, gpt = tiny_bert(seed), tiny_gpt2(seed)
    a, b = torch.tensor([[2, 7, 9, 11]]), torch.tensor([[2, 7, 9, 12]])
    with torch.no_grad():
        moved = {name: (m(a).last_hidden_state - m(b).last_hidden_state)[0, 0].abs().max().item()
                 for name, m in (("BertModel", bert), ("GPT2Model", gpt))}
    layers = {"BertModel": type(bert.encoder.layer[0]).__name__, "GPT2Model": type(gpt.h[0]).__name__}
    return moved, layers


def report_bert_vs_gpt():
    moved, layers = bert_vs_gpt()
    print("change the last of four tokens; max change of the FIRST position's hidden state:")
    for name, v in moved.items():
        print(f"  {name} (layers: {layers[name]}): {v:.1e}")


def finetune_numbers(results=None):
    """Pre-trained against from scratch at the fewest and the most labels, and the keys
    from_pretrained reports missing, from docs/results/pretraining.json (None if absent)."""
    from pathlib import Path

    path = Path(results or RESULTS) / "pretraining.json"
    if not path.exists():
        return None
    r = json.loads(path.read_text())
    rows = r["labels"]["rows"]
    counts = sorted({row["n_labels"] for row in rows})
    pick = {(row["init"], row["n_labels"]): row["accuracy_mean"] for row in rows}
    return {"missing_keys": r["from_pretrained"]["missing_keys"], "majority": r["labels"]["majority"],
            "rows": [(n, pick.get(("pretrained", n)), pick.get(("scratch", n))) for n in (counts[0], counts[-1])]}


def report_finetune(results=None):
    f = finetune_numbers(results)
    if f is None:
        print("not yet produced: run `python scripts/reproduce.py --task pretraining`")
        return
    print("from_pretrained reports missing (created new):", ", ".join(f["missing_keys"]))
    print(f"sentiment test accuracy, mean over the label draws (majority class {f['majority']:.3f}):")
    for n, pre, scratch in f["rows"]:
        print(f"  {n:5d} labels: pre-trained {pre:.3f}, from scratch {scratch:.3f}  "
              f"(pre-trained {'+' if pre >= scratch else '-'}{abs(pre - scratch):.3f})")
