"""Data-parallel training with ``torch.distributed``: DDP under ``torchrun``, one process per device.

``torchrun --nproc_per_node=P script.py`` starts ``P`` copies of ``script.py`` and tells each
which one it is through the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). Each copy holds a full replica of the model, reads its own
shard of every batch (:class:`ShardSampler`), and
:class:`torch.nn.parallel.DistributedDataParallel` averages the gradients across the copies
during ``backward()``, so every replica takes the same optimizer step.

- :func:`init_distributed` joins the process group (``gloo`` on CPU, ``nccl`` on CUDA) and
  returns a :class:`DistInfo`; without ``WORLD_SIZE`` in the environment it does nothing and
  describes a single process, so one script runs with and without ``torchrun``.
- :func:`is_rank0` decides who writes files and logs.
- :func:`wrap_ddp` wraps a model (or returns it unchanged in a single process).
- :func:`cleanup` leaves the process group.
- :func:`rank_share` is the one rule for which rows a rank reads (``r, r + P, ...``), used by
  :class:`ShardSampler` and by the trainer's split of each micro-batch.

The library prints nothing. Page: ``docs/advanced-training.md`` (scaling out with DDP).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, TypeVar

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "ShardSampler", "cleanup", "init_distributed", "is_rank0", "rank_share", "wrap_ddp"]

S = TypeVar("S")


def rank_share(rows: S, world_size: int, rank: int) -> S:
    """Rank ``rank``'s share of ``rows`` (a list, an array, a tensor): positions ``rank, rank + P, ...``.

    ``torch.utils.data.DistributedSampler``'s rule; the ranks' shares are disjoint and together
    cover every position.

    Examples:
        >>> [rank_share(list(range(7)), 3, r) for r in range(3)]
        [[0, 3, 6], [1, 4], [2, 5]]
    """
    return rows[rank::world_size]  # type: ignore[index]



@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global index of this process, ``0 .. world_size - 1``.
        world_size: number of processes (1 without ``torchrun``).
        local_rank: index on this machine (picks the GPU: ``cuda:local_rank``).
        backend: ``"gloo"``, ``"nccl"``, or ``None`` for a single process.
        device: the device this process trains on.

    Examples:
        >>> info = DistInfo()  # one process: what init_distributed() returns without torchrun
        >>> info.rank, info.world_size, info.distributed
        (0, 1, False)
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        """True when a process group is in use (``world_size > 1`` or launched by torchrun)."""
        return self.backend is not None


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


# --8<-- [start:init]
def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` set up, or describe a single process.

    Reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from the environment. With no
    ``WORLD_SIZE`` it returns ``DistInfo()`` (rank 0 of 1, no backend) and touches nothing.
    ``backend=None`` picks ``"nccl"`` when CUDA is available (and selects ``cuda:LOCAL_RANK``),
    ``"gloo"`` otherwise.

    Examples:
        >>> import os
        >>> "WORLD_SIZE" in os.environ or init_distributed().world_size == 1  # a plain process joins nothing
        True
    """
    if "WORLD_SIZE" not in os.environ:
        return DistInfo(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    rank, world_size = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} must be in [0, WORLD_SIZE={world_size})")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this build of PyTorch")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend, device=device)
# --8<-- [end:init]


def is_rank0() -> bool:
    """True in the process that should write files and logs (rank 0, or a single process)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return _env_int("RANK", 0) == 0


def wrap_ddp(model: nn.Module, where: DistInfo | torch.device | None = None) -> nn.Module:
    """``DistributedDataParallel(model)`` when a process group is up, else ``model`` itself.

    The model must already be on the device (``where``: a :class:`DistInfo` or a device). On
    CUDA the wrapper is pinned to that one device (``device_ids=[index]``; ``"cuda"`` without an
    index means the current device); on CPU it gets no device ids.

    Examples:
        >>> from torch import nn
        >>> model = nn.Linear(2, 2)
        >>> wrap_ddp(model) is model  # no process group: the model itself
        True
    """
    if not (dist.is_available() and dist.is_initialized()):
        return model
    device = where.device if isinstance(where, DistInfo) else where
    if device is not None and torch.device(device).type == "cuda":
        index = torch.device(device).index
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[index if index is not None else torch.cuda.current_device()])
    return nn.parallel.DistributedDataParallel(model)


def cleanup() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --8<-- [start:sampler]
class ShardSampler(torch.utils.data.Sampler[int]):
    """The indices ``0 .. n - 1`` that one rank reads in one epoch.

    ``torch.utils.data.DistributedSampler``'s rule, without needing a Dataset: shuffle with a
    generator seeded by ``seed + epoch`` (every rank draws the same permutation), pad by
    repeating the start until the length is a multiple of ``world_size`` (``drop_last=False``)
    or cut the tail (``drop_last=True``), then rank ``r`` takes positions ``r, r + P, r + 2P, ...``.
    Call :meth:`set_epoch` before each epoch or every epoch reads the same order.

    Shape: ``len(sampler) = ceil(n / P)`` (``floor`` with ``drop_last``).

    Examples:
        >>> list(ShardSampler(5, world_size=2, rank=1, shuffle=False))  # padded to 6: 0 1 2 3 4 0
        [1, 3, 0]
    """

    def __init__(self, n: int, world_size: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {world_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        self.n, self.world_size, self.rank = int(n), int(world_size), int(rank)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        if drop_last and n % world_size:
            self.num_samples = n // world_size
        else:
            self.num_samples = math.ceil(n / world_size)
        self.total_size = self.num_samples * world_size

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle: the permutation of the next ``__iter__`` comes from ``(seed, epoch)``."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(self.n, generator=g).tolist()
        else:
            indices = list(range(self.n))
        if not self.drop_last:
            pad = self.total_size - len(indices)  # repeat the start to fill the last round
            if pad > 0:
                indices += (indices * math.ceil(pad / max(len(indices), 1)))[:pad]
        else:
            indices = indices[: self.total_size]
        return iter(rank_share(indices[: self.total_size], self.world_size, self.rank))

    def __len__(self) -> int:
        return self.num_samples
# --8<-- [end:sampler]
