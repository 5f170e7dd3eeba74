"""Warmup: the learning rate of the first optimizer steps, for the three schedules the trainer offers."""

from transformer_anatomy.training import LRSchedule, TrainConfig

STEPS = (1, 10, 50, 100, 200, 500, 1000)


def schedules(lr=1e-3, warmup=100, max_steps=1000, d_model=64):
    """name -> [lr at each of STEPS] for constant (after warmup), cosine and the paper's Noam schedule."""
    out = {}
    for name in ("constant", "cosine", "noam"):
        cfg = TrainConfig(schedule=name, lr=lr, warmup=warmup, max_steps=max_steps)
        sched = LRSchedule(cfg, d_model)
        out[name] = [sched(s) for s in STEPS]
    return out


def report_schedules():
    rows = schedules()
    print("learning rate at optimizer step (lr=1e-3, warmup=100, max_steps=1000, E=64)")
    print(f"{'step':>6} " + " ".join(f"{n:>10}" for n in rows))
    for i, s in enumerate(STEPS):
        print(f"{s:>6} " + " ".join(f"{rows[n][i]:10.2e}" for n in rows))
