"""Saving, resuming and monitoring a run, executed while docs/training.md is built: a tiny
reversal run interrupted, saved, loaded into a fresh trainer and finished, against the same run
uninterrupted; the trainer's JSON-lines log plotted."""

import json
import tempfile
from pathlib import Path

import torch

from transformer_anatomy.tasks import make_reversal_task
from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.training import TorchTrainer, TrainConfig

CONFIG = TrainConfig(kind="seq2seq", max_steps=24, batch_size=32, lr=3e-3, warmup=4, eval_every=8, log_every=4,
                     label_smoothing=0.1, seed=0)


def tiny_task():
    return make_reversal_task(n_train=256, n_valid=32, n_test=32, min_len=5, max_len=5, num_symbols=8)


def fresh_model(data, seed=0):
    """A small model, its weights drawn from ``seed``."""
    torch.manual_seed(seed)
    return Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=32, nhead=4,
                              num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64)


# --8<-- [start:resume]
def resume_check(folder, k=10, config=CONFIG, forget_adam=False):
    """Train k steps, save, load into a fresh trainer, finish; compare with one straight run."""
    data = tiny_task()
    straight = TorchTrainer(fresh_model(data), data, config)
    straight.fit()                                    # N steps in one go

    first = TorchTrainer(fresh_model(data), data, config)
    first.fit(until_step=k)                           # interrupted after k steps
    path = first.save_checkpoint(Path(folder) / "run.pt")  # model, Adam, schedule, RNG, data position

    second = TorchTrainer(fresh_model(data, seed=123), data, config)  # other weights: all overwritten
    second.load_checkpoint(path)
    if forget_adam:                                   # the counter-check: lose one part of the state
        second.optimizer.state.clear()
    second.fit()                                      # the remaining N - k steps
    a, b = straight.model.state_dict(), second.model.state_dict()
    max_diff = max((a[n] - b[n]).abs().max().item() for n in a)
    return dict(k=k, n=config.max_steps, max_diff=max_diff, same_history=second.history == straight.history,
                path=path, size=path.stat().st_size)
# --8<-- [end:resume]


def report_resume():
    with tempfile.TemporaryDirectory() as folder:
        r = resume_check(folder)
        lost = resume_check(folder, forget_adam=True)
    print(f"straight: {r['n']} steps; resumed: {r['k']} steps, saved ({r['size'] / 1024:.0f} KiB), "
          f"loaded into a fresh trainer, {r['n'] - r['k']} more")
    print(f"largest difference between the two models' weights: {r['max_diff']:.1e}")
    print(f"every logged loss, learning rate and metric identical: {r['same_history']}")
    print(f"the same, with Adam's moments thrown away after loading: largest difference {lost['max_diff']:.1e}, "
          f"histories identical: {lost['same_history']}")


def checkpoint_contents(folder):
    """The top-level keys of a checkpoint file and the types they hold."""
    data = tiny_task()
    trainer = TorchTrainer(fresh_model(data), data, CONFIG.replace(max_steps=2, eval_every=2))
    trainer.fit()
    path = trainer.save_checkpoint(Path(folder) / "tiny.pt")
    state = torch.load(path, weights_only=True)  # plain tensors and numbers: no pickled objects
    return {k: type(v).__name__ for k, v in state.items()}


def report_checkpoint_contents():
    with tempfile.TemporaryDirectory() as folder:
        keys = checkpoint_contents(folder)
    print("torch.load(path, weights_only=True) ->")
    for k, t in keys.items():
        print(f"  {k:<15} {t}")


# ------------------------------------------------------------------------------- monitoring

# --8<-- [start:log_file]
def logged_run(folder, config=CONFIG):
    """A run that writes its history to a JSON-lines file; the records read back."""
    data = tiny_task()
    log = Path(folder) / "run.jsonl"
    TorchTrainer(fresh_model(data), data, config, log_file=log).fit()
    return [json.loads(line) for line in log.read_text().splitlines()]
# --8<-- [end:log_file]


def log_figure(records):
    """Training loss and validation exact match against the step, from the log's records."""
    from matplotlib.figure import Figure

    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax_loss, ax_em = fig.subplots(1, 2)
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], marker="o", color="#1f77b4")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("training loss (nats / token)")
    ax_em.plot([r["step"] for r in evals], [r["metrics"]["token_accuracy"] for r in evals], marker="o",
               color="#2ca02c", label="token accuracy")
    ax_em.plot([r["step"] for r in evals], [r["metrics"]["exact_match"] for r in evals], marker="s",
               color="#d62728", label="exact match")
    ax_em.set_xlabel("optimizer step")
    ax_em.set_ylabel("validation score")
    ax_em.set_ylim(0, 1)
    ax_em.legend(fontsize=8)
    return fig


def report_log():
    import html

    from transformer_anatomy.viz import figure_to_svg

    with tempfile.TemporaryDirectory() as folder:
        records = logged_run(folder)
    first_train = next(r for r in records if r["kind"] == "train")
    first_eval = next(r for r in records if r["kind"] == "eval")
    ev = {k: v for k, v in first_eval.items() if k != "metrics"}
    lines = [f"{len(records)} lines; the first training record and the first evaluation record:",
             json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in first_train.items()}),
             json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in ev.items()})
             + f'  + "metrics": {sorted(first_eval["metrics"])}']
    print("<pre><code>" + html.escape("\n".join(lines)) + "</code></pre>")
    evals = [r for r in records if r["kind"] == "eval"]
    print(figure_to_svg(log_figure(records), alt="training loss falling over the steps of the tiny run, and the "
                        "validation token accuracy and exact match at each evaluation, read from its log file",
                        caption=f"Plotted from the log file: {len(records) - len(evals)} training records, "
                                f"{len(evals)} evaluations; last token accuracy "
                                f"{evals[-1]['metrics']['token_accuracy']:.3f}."))


def tensorboard_installed():
    try:
        import torch.utils.tensorboard  # noqa: F401  (imports the tensorboard package)
    except ImportError:
        return False
    return True


def report_tensorboard():
    state = "is installed" if tensorboard_installed() else "is not installed"
    print(f"In the environment that built this page the tensorboard package {state}; without it, "
          "`tensorboard_dir=` stops the trainer at construction with a `ModuleNotFoundError` that names the "
          "option and the `[tensorboard]` extra.")
