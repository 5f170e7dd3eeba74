"""DDP on CPU (gloo): two processes with half the batch each == one process with the whole batch.

Runs ``scripts/ddp_check.py`` under ``python -m torch.distributed.run --nproc_per_node=2`` and
alone, then compares every parameter of the final ``state_dict``. Also checks the sampler
against ``torch.utils.data.DistributedSampler`` and the single-process no-ops.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from transformer_anatomy.training.distributed import DistInfo, ShardSampler, init_distributed, is_rank0, wrap_ddp

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ddp_check.py"


def gloo_available() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_gloo_available()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE")}
    env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", CUDA_VISIBLE_DEVICES="")
    return env


@pytest.mark.skipif(not gloo_available(), reason="torch.distributed with the gloo backend is not available")
def test_two_ranks_equal_one_process(tmp_path):
    steps = ["--steps", "4", "--global-batch", "32"]
    single = subprocess.run([sys.executable, str(SCRIPT), *steps, "--out", str(tmp_path / "single")],
                            env=clean_env(), capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), *steps,
                          "--out", str(tmp_path / "ddp")],
                         env=clean_env(), capture_output=True, text=True, timeout=120)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = json.loads((tmp_path / "single" / "ddp_check.json").read_text())
    two = json.loads((tmp_path / "ddp" / "ddp_check.json").read_text())
    assert one["world_size"] == 1 and one["backend"] is None and one["per_rank_batch"] == 32
    assert two["world_size"] == 2 and two["backend"] == "gloo" and two["per_rank_batch"] == 16
    a = torch.load(tmp_path / "single" / "params.pt")
    b = torch.load(tmp_path / "ddp" / "params.pt")
    assert a.keys() == b.keys()
    # float32; the two runs add the same numbers in a different order (each rank sums 16
    # examples, then gloo averages two partial gradients), so they differ by rounding: a few
    # float32 ulps (~1e-7) per step, after 4 steps of SGD with momentum.
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=lambda m, k=k: f"{k}: {m}")
    torch.testing.assert_close(torch.tensor(two["losses"]), torch.tensor(one["losses"]), rtol=1e-5, atol=1e-6)
    assert one["losses"][-1] < one["losses"][0] - 0.1  # it did train: the weights moved far beyond the tolerance


@pytest.mark.parametrize("n, P, drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (1, 2, False)])
def test_shard_sampler_matches_distributed_sampler(n, P, drop_last):
    data = list(range(n))
    for epoch in (0, 1, 5):
        ours, theirs = [], []
        for r in range(P):
            s = ShardSampler(n, world_size=P, rank=r, seed=7, drop_last=drop_last)
            t = torch.utils.data.DistributedSampler(data, num_replicas=P, rank=r, seed=7, drop_last=drop_last)
            s.set_epoch(epoch)
            t.set_epoch(epoch)
            ours.append(list(s))
            theirs.append(list(t))
            assert len(s) == len(t) == len(ours[-1])
        assert ours == theirs
        flat = sorted(i for shard in ours for i in shard)
        if drop_last:
            assert len(set(flat)) == len(flat) == (n // P) * P  # disjoint, tail cut
        else:
            assert set(flat) == set(data) and len(flat) % P == 0  # everything, padded to a multiple of P


def test_shard_sampler_reshuffles_per_epoch():
    s = ShardSampler(50, world_size=2, rank=0, seed=0)
    first = list(s)
    assert list(s) == first  # same epoch -> same order
    s.set_epoch(1)
    assert list(s) != first


def test_single_process_is_a_no_op(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    info = init_distributed()
    assert isinstance(info, DistInfo) and info.world_size == 1 and info.rank == 0 and not info.distributed
    model = torch.nn.Linear(2, 2)
    assert wrap_ddp(model, info) is model
    assert is_rank0()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rank"):
        ShardSampler(10, world_size=2, rank=2)
    with pytest.raises(ValueError, match="world_size"):
        ShardSampler(10, world_size=0)
