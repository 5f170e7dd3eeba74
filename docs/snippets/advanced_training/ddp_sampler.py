"""How a data-parallel job splits the data: ShardSampler next to torch's DistributedSampler."""

import ast
from pathlib import Path

import torch

import transformer_anatomy

from transformer_anatomy.training.distributed import ShardSampler


N_EXAMPLES, RANKS = 10, 3


def shards(n=N_EXAMPLES, P=RANKS, epoch=0, seed=0):
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
        print(f"epoch {epoch}: {N_EXAMPLES} examples over {len(ours)} ranks (padded to {total})")
        for r, idx in ours.items():
            print(f"  rank {r}: {idx}")
        print(f"  same as torch.utils.data.DistributedSampler: {agree}")


def _script(name):
    path = Path("scripts") / name
    if not path.exists():  # not built from the repository root: find scripts/ beside src/
        path = Path(transformer_anatomy.__file__).resolve().parents[2] / "scripts" / name
    return path


def cli_default(script, option):
    """The ``default=`` of ``ap.add_argument(option, ...)`` in ``scripts/<script>``, read from its source."""
    tree = ast.parse(_script(script).read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument" and node.args
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == option):
            for kw in node.keywords:
                if kw.arg == "default":
                    return ast.literal_eval(kw.value)
    raise KeyError(f"{option} has no default in scripts/{script}")


def report_ddp_check(world_size=2):
    """The DDP test's setup in a sentence, from ddp_check.py's own defaults (Markdown)."""
    batch = cli_default("ddp_check.py", "--global-batch")
    print(f"The test `tests/training/test_ddp.py` runs `scripts/ddp_check.py` under "
          f"`python -m torch.distributed.run --nproc_per_node={world_size}` (gloo, on the CPU, bound to 127.0.0.1) "
          f"and alone, with the same global batch of {batch} (the script's `--global-batch` default), and requires "
          f"every final parameter to agree with `rtol=1e-5, atol=1e-6`. They cannot agree bit for bit: each rank "
          f"sums {batch // world_size} examples' gradients and gloo adds the {world_size} partial sums, a different "
          f"order of float32 additions than one process summing {batch}.")
