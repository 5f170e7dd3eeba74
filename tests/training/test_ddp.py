"""DDP on CPU (gloo): two processes with half the batch each == one process with the whole batch.

- ``scripts/ddp_check.py`` (the hand-written loop the advanced-training page shows) under
  ``python -m torch.distributed.run --nproc_per_node=2`` and alone: every final parameter.
- ``TorchTrainer`` itself (``tests/training/ddp_trainer_worker.py``): the gradients of every
  optimizer step, the losses, the ranks' weights, rank-0-only checkpoints.
- ``scripts/reproduce.py --quick`` under torchrun: rank 0 alone writes the results.

Also checks the sampler against ``torch.utils.data.DistributedSampler`` and the
single-process no-ops.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from transformer_anatomy.training.distributed import DistInfo, ShardSampler, init_distributed, is_rank0, wrap_ddp

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ddp_check.py"
WORKER = Path(__file__).resolve().parent / "ddp_trainer_worker.py"
REPRODUCE = ROOT / "scripts" / "reproduce.py"


def torchrun(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_addr=127.0.0.1", f"--master_port={free_port()}", *args],
                          env=clean_env(), capture_output=True, text=True, timeout=timeout)


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
def test_trainer_two_ranks_equal_one_process(tmp_path):
    """TorchTrainer under DDP: micro-batches of 16, 16 and 1 rows accumulated into each step
    (so rank 1 gets an empty shard once per step) give the single process's gradients."""
    single = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "one")], env=clean_env(),
                            capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = torchrun(str(WORKER), str(tmp_path / "two"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "rank0.json").read_text())
    r0 = json.loads((tmp_path / "two" / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "two" / "rank1.json").read_text())
    assert (one["world_size"], r0["world_size"], r0["backend"]) == (1, 2, "gloo")
    g_one = torch.load(tmp_path / "one" / "grads0.pt")
    g_r0, g_r1 = torch.load(tmp_path / "two" / "grads0.pt"), torch.load(tmp_path / "two" / "grads1.pt")
    assert len(g_one) == len(g_r0) == 4
    for step, (a, b, c) in enumerate(zip(g_one, g_r0, g_r1), start=1):
        assert a.keys() == b.keys() == c.keys() and len(a) > 30
        for k in a:
            # the same sums in another order (8-row shards, then gloo's mean of two): float32
            # rounding, ~3e-8 against gradients up to 0.1. A missing factor (no P / total, or
            # a mean per micro-batch) is off by 2x or more.
            torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-7, msg=lambda m, k=k, s=step: f"step {s} {k}: {m}")
            assert torch.equal(b[k], c[k]), f"step {step} {k}: the ranks stepped with different gradients"
    # Losses: the all-reduced mean of the global batch, the same on every rank.
    l_one = [x["loss"] for x in one["history"]["train"]]
    l_two = [x["loss"] for x in r0["history"]["train"]]
    torch.testing.assert_close(torch.tensor(l_two), torch.tensor(l_one), rtol=1e-6, atol=0)
    assert r0["history"] == r1["history"]
    assert l_one[-1] < l_one[0] - 0.2  # it trained
    # Every rank holds the same weights; only rank 0 wrote checkpoints.
    p0, p1 = torch.load(tmp_path / "two" / "params0.pt"), torch.load(tmp_path / "two" / "params1.pt")
    assert all(torch.equal(p0[k], p1[k]) for k in p0)
    assert r0["checkpoint_files"] == ["best.pt", "last.pt"] and r1["checkpoint_files"] == []
    # (The final weights are not compared with the single process: Adam divides by sqrt(v), so
    # an entry whose gradient is rounding noise moves by up to lr in either direction. The
    # gradients above are the quantity DDP is responsible for; ddp_check.py compares weights
    # under SGD.)


@pytest.mark.skipif(not gloo_available(), reason="torch.distributed with the gloo backend is not available")
def test_reproduce_under_torchrun(tmp_path):
    out = tmp_path / "results"
    r = torchrun(str(REPRODUCE), "--task", "reversal", "--quick", "--no-with-reference", "--threads", "1",
                 "--out", str(out), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("reversal  PyTorch") == 1  # one summary line: rank 0 prints
    result = json.loads((out / "reversal-torch.json").read_text())
    assert result["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert not (out / "reversal-numpy.json").exists()  # under torchrun the default backend is torch
    assert result["torch_options"] == {"amp": True, "compile": False, "sdpa_backend": "auto",
                                       "grad_checkpointing": False}
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["results"]) == ["reversal-torch.json"] and manifest["distributed"]["world_size"] == 2
    assert len(result["runs"]["encoder_decoder"]["history"]["train"]) > 0


def test_reproduce_refuses_numpy_under_torchrun():
    env = dict(clean_env(), WORLD_SIZE="2", RANK="0", LOCAL_RANK="0")
    r = subprocess.run([sys.executable, str(REPRODUCE), "--backend", "both", "--quick", "--out", "/nonexistent"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "--backend both under torchrun (WORLD_SIZE=2)" in r.stderr


@pytest.mark.skipif(not gloo_available(), reason="torch.distributed with the gloo backend is not available")
def test_two_ranks_equal_one_process(tmp_path):
    steps = ["--steps", "4", "--global-batch", "32"]
    single = subprocess.run([sys.executable, str(SCRIPT), *steps, "--out", str(tmp_path / "single")],
                            env=clean_env(), capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr
    ddp = torchrun(str(SCRIPT), *steps, "--out", str(tmp_path / "ddp"), timeout=120)
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


def test_sampler_and_trainer_split_by_one_rule():
    """ShardSampler's positions and the trainer's rows of a micro-batch are both rank_share's."""
    from transformer_anatomy.training.distributed import rank_share

    for P in (1, 2, 3):
        shares = [rank_share(list(range(12)), P, r) for r in range(P)]
        assert sorted(i for s in shares for i in s) == list(range(12))  # disjoint, cover everything
        for r in range(P):
            assert list(ShardSampler(12, world_size=P, rank=r, shuffle=False)) == shares[r]
            assert rank_share(np.arange(12), P, r).tolist() == shares[r]  # arrays (a micro-batch's rows) too


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
