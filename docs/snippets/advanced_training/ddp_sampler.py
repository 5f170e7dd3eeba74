"""How a data-parallel job splits the data: ShardSampler next to torch's DistributedSampler."""

import torch

from transformer_anatomy.training.distributed import ShardSampler


def shards(n=10, P=3, epoch=0, seed=0):
    """Rank -> the indices it reads in ``epoch``; and whether torch's DistributedSampler agrees."""
    ours = {}
    agree = True
    for r in range(P):
        s = ShardSampler(n, world_size=P, rank=r, seed=seed)
        t = torch.utils.data.DistributedSampler(range(n), num_replicas=P, rank=r, seed=seed)
        s.set_epoch(epoch)
        t.set_epoch(epoch)
        ours[r] = list(s)
        agree &= ours[r] == list(t)
    return ours, agree


def report():
    for epoch in (0, 1):
        ours, agree = shards(epoch=epoch)
        total = sum(len(idx) for idx in ours.values())
        print(f"epoch {epoch}: 10 examples over {len(ours)} ranks (padded to {total})")
        for r, idx in ours.items():
            print(f"  rank {r}: {idx}")
        print(f"  same as torch.utils.data.DistributedSampler: {agree}")
