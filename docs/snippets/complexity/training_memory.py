"""Memory of BERT-base from its parameter count, and what Adam adds in training, against a measured model.

The weights alone: parameters × 4 bytes in float32. Training with Adam keeps three more tensors of
the same size per parameter: the gradient and the two moments (``exp_avg``, ``exp_avg_sq``), so
16 bytes per parameter before any activation. The measured side counts the bytes of the tensors a
real ``torch.optim.AdamW`` step leaves behind in a small ``BertForMaskedLM``.
"""

import torch

from complexity.params import bert_check, count  # the parameter counts of this page (one home)

BYTES = 4  # float32


# --8<-- [start:formula]
def training_bytes(n_params, bytes_per_float=BYTES):
    """Memory of weights, gradients and Adam's two moments: four floats per parameter."""
    return {
        "weights": n_params * bytes_per_float,
        "gradients": n_params * bytes_per_float,
        "Adam exp_avg (m)": n_params * bytes_per_float,
        "Adam exp_avg_sq (v)": n_params * bytes_per_float,
    }
# --8<-- [end:formula]


def bert_base_counts():
    """Parameters of ``BertModel(BertConfig())`` and of ``BertForPreTraining`` (its two heads
    added; the MLM decoder's weight is the token embedding, counted once), built on meta."""
    from transformers import BertConfig, BertForPreTraining

    _, bare, _ = bert_check()
    with torch.device("meta"):
        pretraining = BertForPreTraining(BertConfig())
    return {"BertModel": bare, "BertForPreTraining": count(pretraining)}


SMALL = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)


# --8<-- [start:measure]
def measured_adam_bytes(seed=0, **sizes):
    """Bytes of the weights, gradients and AdamW state after one step of a small BertForMaskedLM."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig(**(sizes or SMALL)))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()  # fills .grad
    opt.step()  # creates exp_avg, exp_avg_sq (and a 'step' counter) per parameter
    params = list(model.parameters())  # a tied weight appears once
    state = [opt.state[p] for p in params]
    return {
        "weights": sum(p.nbytes for p in params),
        "gradients": sum(p.grad.nbytes for p in params),
        "Adam exp_avg (m)": sum(s["exp_avg"].nbytes for s in state),
        "Adam exp_avg_sq (v)": sum(s["exp_avg_sq"].nbytes for s in state),
        "step counters": sum(s["step"].nbytes for s in state),
    }, count(model)
# --8<-- [end:measure]


def report_bert_memory():
    """BERT-base's weights in float32, and its training memory with Adam (Markdown)."""
    counts = bert_base_counts()
    print("| model | parameters | weights, float32 | + gradients + Adam m, v |")
    print("|---|---:|---:|---:|")
    for name, n in counts.items():
        parts = training_bytes(n)
        print(f"| `{name}` | {n:,} | {parts['weights'] / 1e6:,.0f} MB ({parts['weights'] / 2**20:,.0f} MiB) "
              f"| {sum(parts.values()) / 1e9:.2f} GB |")
    print(f"\nSo \"BERT-base is ~440 MB\" is {counts['BertForPreTraining']:,} × {BYTES} bytes = "
          f"{counts['BertForPreTraining'] * BYTES / 1e6:.0f} MB (decimal megabytes; "
          f"{counts['BertForPreTraining'] * BYTES / 2**20:.0f} MiB): the weights only. "
          f"Training it with Adam needs four times that before the first activation.")


def report_measured():
    """Formula against the tensors of a real AdamW step (Markdown)."""
    measured, n = measured_adam_bytes()
    formula = training_bytes(n)
    print(f"A small `BertForMaskedLM` ({', '.join(f'{k} = {v}' for k, v in SMALL.items())}): {n:,} parameters.\n")
    print("| tensor | formula (bytes) | measured (bytes) | equal |")
    print("|---|---:|---:|---|")
    for part, b in formula.items():
        print(f"| {part} | {b:,} | {measured[part]:,} | {b == measured[part]} |")
    extra = measured["step counters"]
    print(f"| step counters (one scalar per parameter tensor) | — | {extra:,} | |")
    total = sum(measured.values())
    print(f"\nMeasured total: {total:,} bytes = {total / (n * BYTES):.4f} × the weights.")
