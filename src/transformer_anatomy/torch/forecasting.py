"""A small Transformer forecaster: values in, a linear projection, our encoder, a linear head out.

Words become vectors through an embedding table; a real-valued series has no table, so each
time step's value goes through ``Linear(1, E)`` instead (the "value embedding"). The rest is
the encoder this site builds everywhere: sinusoidal positions, :class:`TransformerEncoder`
(no mask: every context step may look at every other, as a forecast is made after the whole
context is seen), then one linear layer from the flattened ``C × E`` hidden states to the ``H``
future values (the "flatten head" of PatchTST, Nie et al. 2023, without the patches).

**Instance normalisation** (``normalize="instance"``, the default): each context is shifted
by its mean and divided by its standard deviation before the model, and the forecast is
mapped back (RevIN, Kim et al. 2022, without its learned affine). A series with a trend
leaves the range of the training data; normalised, every window looks alike, and the model
only has to learn shapes.

:func:`train_forecaster` is the short regression loop (L1 loss, Adam, warmup + cosine from
:class:`~transformer_anatomy.training.LRSchedule`, seeded by
:func:`~transformer_anatomy.training.seed_everything`): the classification/seq2seq trainer's
losses and metrics are for tokens, not values.

Page: ``docs/other-tasks.md``. Data: :mod:`transformer_anatomy.tasks.forecasting`.

Examples:
    >>> import torch
    >>> model = TransformerForecaster(context_len=48, horizon=12, d_model=16, nhead=2, num_layers=1)
    >>> model(torch.zeros(3, 48)).shape
    torch.Size([3, 12])
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_anatomy.errors import check_int, check_number, check_positive_int
from transformer_anatomy.torch.embeddings import PositionalEncoding
from transformer_anatomy.torch.transformer import TransformerEncoder, TransformerEncoderLayer, _check_config

__all__ = ["NORMALIZATIONS", "TransformerForecaster", "predict", "train_forecaster"]

NORMALIZATIONS = ("instance", "none")


class TransformerForecaster(nn.Module):
    """Forecast the next ``horizon`` values of a univariate series from its last ``context_len``.

    Args:
        context_len: ``C``, the number of past values the model sees.
        horizon: ``H``, the number of future values it predicts at once.
        d_model, nhead, num_layers, dim_feedforward, dropout, activation, norm_first: as
            :class:`TransformerEncoderLayer` / :class:`TransformerEncoder` (defaults 32, 4, 2, 64,
            0.0, relu, True).
        normalize: ``"instance"`` (shift and scale each context by its own mean and standard
            deviation, undo it on the output) or ``"none"``.

    Shape:
        x: ``(N, C)`` float -> forecast ``(N, H)``.

    Examples:
        >>> import torch
        >>> m = TransformerForecaster(24, 6, d_model=8, nhead=2, num_layers=1)
        >>> m(torch.randn(2, 24)).shape
        torch.Size([2, 6])
    """

    def __init__(self, context_len: int, horizon: int, d_model: int = 32, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 64, dropout: float = 0.0, activation: str = "relu",
                 norm_first: bool = True, normalize: str = "instance") -> None:
        super().__init__()
        _check_config(d_model, nhead, dropout, activation)
        self.context_len = check_positive_int("context_len", context_len)
        self.horizon = check_positive_int("horizon", horizon)
        check_int("num_layers", num_layers, 1)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got normalize={normalize!r}")
        self.normalize, self.d_model = normalize, d_model
        # --8<-- [start:layers]
        self.value_proj = nn.Linear(1, d_model)  # one value -> one E-vector (the "embedding")
        self.pos = PositionalEncoding(d_model, context_len)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                        batch_first=True, norm_first=norm_first)
        self.encoder = TransformerEncoder(layer, num_layers, nn.LayerNorm(d_model))
        self.head = nn.Linear(context_len * d_model, horizon)  # flattened states -> H values
        # --8<-- [end:layers]

    # --8<-- [start:forward]
    def forward(self, x: Tensor) -> Tensor:
        x = self._check_input(x)
        N, C = x.shape  # batch, context length
        if self.normalize == "instance":
            mu = x.mean(dim=1, keepdim=True)  # (N, 1)
            sigma = x.std(dim=1, keepdim=True, unbiased=False).clamp(min=1e-5)  # (N, 1)
            x = (x - mu) / sigma
        h = self.pos(self.value_proj(x.unsqueeze(-1)))  # (N, C) -> (N, C, 1) -> (N, C, E)
        h = self.encoder(h)  # (N, C, E) -> (N, C, E)
        y = self.head(h.reshape(N, -1))  # (N, C, E) -> (N, C·E) -> (N, H)
        if self.normalize == "instance":
            y = y * sigma + mu  # back to the series' own level and scale
        return y
    # --8<-- [end:forward]

    def _check_input(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape (N, {self.context_len}), got {type(x).__name__}")
        dtype = self.head.weight.dtype
        if x.dtype != dtype:
            raise TypeError(f"x has dtype {str(x.dtype).replace('torch.', '')}, the model is "
                            f"{str(dtype).replace('torch.', '')} (convert with x.to({dtype}))")
        if x.dim() != 2 or x.shape[1] != self.context_len:
            raise ValueError(f"x must have shape (N, {self.context_len}) (batch, context_len), got {tuple(x.shape)}")
        return x


def _as_tensor(name: str, a: np.ndarray | Tensor, dtype: torch.dtype) -> Tensor:
    t = torch.as_tensor(np.asarray(a) if not isinstance(a, Tensor) else a).to(dtype)
    if t.dim() != 2:
        raise ValueError(f"{name} must have shape (N, L), got {tuple(t.shape)}")
    return t


def train_forecaster(model: TransformerForecaster, x: np.ndarray | Tensor, y: np.ndarray | Tensor,
                     steps: int = 1000, batch_size: int = 64, lr: float = 1e-3, warmup: int = 50,
                     seed: int = 0, log_every: int = 50) -> dict:
    """Fit ``model`` to windows ``x -> y`` with the L1 loss (the MAE it is scored on).

    Each step draws ``batch_size`` windows at random (a ``torch.Generator`` seeded with
    ``seed``), takes one Adam step under linear warmup then cosine decay, and clips the
    gradient norm to 1. Returns ``{"loss": [(step, batch MAE), ...], "time_s", "ms_per_step"}``.

    Shape:
        x: ``(N, C)``, y: ``(N, H)`` -> the model is trained in place.
    """
    from transformer_anatomy.training import LRSchedule, TrainConfig, seed_everything

    steps, batch_size = check_positive_int("steps", steps), check_positive_int("batch_size", batch_size)
    lr = check_number("lr", lr, 0.0, min_open=True)
    log_every = check_positive_int("log_every", log_every)
    dtype = model.head.weight.dtype
    x, y = _as_tensor("x", x, dtype), _as_tensor("y", y, dtype)
    if len(x) != len(y) or len(x) == 0 or y.shape[1] != model.horizon:
        raise ValueError(f"x and y must hold the same number (>= 1) of windows, y of width {model.horizon}; "
                         f"got x {tuple(x.shape)} and y {tuple(y.shape)}")
    seed_everything(seed)
    schedule = LRSchedule(TrainConfig(lr=lr, warmup=min(check_int("warmup", warmup, 0), steps - 1),
                                      max_steps=steps, schedule="cosine"), model.d_model)
    opt = torch.optim.Adam(model.parameters(), lr=schedule(1))
    gen = torch.Generator().manual_seed(seed)
    losses, t0 = [], time.perf_counter()
    model.train()
    # --8<-- [start:train]
    for step in range(1, steps + 1):
        for group in opt.param_groups:
            group["lr"] = schedule(step)
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
        loss = F.l1_loss(model(x[idx]), y[idx])  # mean |ŷ - y| over the batch and the horizon
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % log_every == 0 or step == 1:
            losses.append((step, float(loss.detach())))
    # --8<-- [end:train]
    elapsed = time.perf_counter() - t0
    model.eval()
    return {"loss": losses, "time_s": elapsed, "ms_per_step": 1000.0 * elapsed / steps}


@torch.no_grad()
def predict(model: TransformerForecaster, x: np.ndarray | Tensor, batch_size: int = 1024) -> np.ndarray:
    """The model's forecasts as a float64 NumPy array, in eval mode.

    Shape:
        x: ``(N, C)`` -> ``(N, H)``.
    """
    model.eval()
    x = _as_tensor("x", x, model.head.weight.dtype)
    batch_size = check_positive_int("batch_size", batch_size)
    out = [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy() if out else np.zeros((0, model.horizon))

