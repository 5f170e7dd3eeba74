"""NumPy <-> ours <-> PyTorch: nn.Transformer's weights loaded into our torch Transformer, that
converted to NumPy with from_torch, all three run on the same input (float64)."""

import warnings

import numpy as np
import torch
from torch import nn

import transformer_anatomy.numpy as tnp
import transformer_anatomy.torch as tt

CONFIG = dict(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32,
              dropout=0.0, batch_first=True)


def transformer_triangle(seed=0):
    """Pairwise max differences between nn.Transformer, ours (torch) and ours (NumPy)."""
    torch.manual_seed(seed)
    theirs = nn.Transformer(**CONFIG).double().eval()
    ours = tt.Transformer(**CONFIG).double().eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    numpy_model = tnp.from_torch(ours)  # our torch model -> NumPy
    src, tgt = torch.randn(2, 6, 16, dtype=torch.float64), torch.randn(2, 5, 16, dtype=torch.float64)
    masks = dict(tgt_mask=torch.ones(5, 5, dtype=torch.bool).triu(1),
                 src_key_padding_mask=torch.tensor([[False] * 6, [False] * 4 + [True] * 2]))
    masks["memory_key_padding_mask"] = masks["src_key_padding_mask"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
        a = theirs(src, tgt, **masks).numpy()
        b = ours(src, tgt, **masks).numpy()
    c = numpy_model(src.numpy(), tgt.numpy(), **{k: v.numpy() for k, v in masks.items()})
    return {"nn.Transformer vs ours (torch)": float(np.abs(a - b).max()),
            "ours (torch) vs ours (NumPy)": float(np.abs(b - c).max()),
            "nn.Transformer vs ours (NumPy)": float(np.abs(a - c).max())}


def seq2seq_triangle(seed=0):
    """Our torch Seq2SeqTransformer vs its NumPy conversion: logits on a padded batch."""
    torch.manual_seed(seed)
    model = tt.Seq2SeqTransformer(12, 12, d_model=16, nhead=4, dim_feedforward=32, dropout=0.0).double().eval()
    numpy_model = tnp.from_torch(model)
    src = np.array([[4, 5, 6, 7], [8, 9, 0, 0]])  # (N, S), pad = 0
    tgt = np.array([[1, 7, 6, 5], [1, 9, 8, 0]])  # (N, T)
    with torch.no_grad():
        a = model(torch.from_numpy(src), torch.from_numpy(tgt)).numpy()
    b = numpy_model(src, tgt)
    return float(np.abs(a - b).max()), type(numpy_model).__module__ + "." + type(numpy_model).__name__


def report():
    """Print the triangle's three sides and the Seq2SeqTransformer check."""
    for name, d in transformer_triangle().items():
        print(f"max |{name}| = {d:.1e}")
    d, cls = seq2seq_triangle()
    print(f"\nSeq2SeqTransformer -> {cls}: max |torch logits - NumPy logits| = {d:.1e}")
