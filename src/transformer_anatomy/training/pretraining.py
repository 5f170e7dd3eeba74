"""Pre-training a small BERT with masked-language modelling, then fine-tuning it on sentiment.

Nothing can be downloaded, so the pre-training text is the one every Python install carries:
``pydoc_data.topics`` (the help texts of the language reference, about 465 kB of English and
code). The steps, each a named section of this file:

- ``corpus``: the topics as documents, split *by document* into a pre-training and a
  held-out part (no sentence of a held-out topic is seen in pre-training);
- ``tokenizer``: a word-level tokenizer of our own built from the pre-training part
  (lower-cased words, numbers, single punctuation marks; ``[PAD] [UNK] [CLS] [SEP] [MASK]``
  first), with ``add_tokens`` for words a downstream task needs;
- ``masking``: BERT's recipe (Devlin et al. 2018, §3.1 and Appendix A.1): 15 % of the
  ordinary positions are chosen for prediction; of those, 80 % become ``[MASK]``, 10 % a
  random token and 10 % stay unchanged; the loss is taken at the chosen positions only;
- ``pretrain``: HuggingFace ``BertForMaskedLM`` from a small ``BertConfig``, AdamW with
  linear warmup and decay; the held-out MLM loss and accuracy are measured on a fixed masking;
- ``finetune``: ``BertForSequenceClassification.from_pretrained(folder, num_labels=C)``
  keeps the encoder and creates the new head (the keys it reports missing), then trains on
  the sentiment task of :mod:`transformer_anatomy.tasks`; the same model from a random
  initialisation is the baseline;
- ``freezing`` and ``discriminative``: freezing the embeddings and the lowest layers, and
  per-layer learning rates ``lr * decay ** (L - l)`` (Howard & Ruder 2018, ULMFiT's
  "discriminative fine-tuning"; Clark et al. 2020, ELECTRA's layer-wise decay).

The library prints nothing and writes only into folders it is given;
``scripts/pretraining_study.py`` runs the whole study. Page: ``docs/pretraining.md``.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS: tuple[str, ...] = (PAD, UNK, CLS, SEP, MASK)
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
IGNORE = -100  # label of a position without loss (HuggingFace's and torch's ignore_index)


# ============================================================================================
# Corpus: the help topics of the Python install, split by document
# ============================================================================================
# --8<-- [start:corpus]
def load_corpus() -> dict[str, str]:
    """The documents of ``pydoc_data.topics``: topic name -> its help text (sorted by name)."""
    from pydoc_data.topics import topics

    return {name: topics[name] for name in sorted(topics)}


def split_corpus(docs: dict[str, str], heldout_fraction: float = 0.1, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split the topic names into pre-training and held-out sets, disjoint, by document.

    Topics are shuffled with ``seed`` and taken into the held-out set until it holds at
    least ``heldout_fraction`` of the characters.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    names = list(docs)
    order = np.random.default_rng(seed).permutation(len(names))
    total, held, chars = sum(map(len, docs.values())), [], 0
    for i in order:
        if chars >= heldout_fraction * total:
            break
        held.append(names[i])
        chars += len(docs[names[i]])
    train = [n for n in names if n not in set(held)]
    return train, sorted(held)
# --8<-- [end:corpus]


# ============================================================================================
# Tokenizer: word level, built from the pre-training text
# ============================================================================================
TOKEN_RE = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")


# --8<-- [start:tokenizer]
def split_words(text: str) -> list[str]:
    """Lower-case ``text`` and cut it into words, numbers and single punctuation marks."""
    return TOKEN_RE.findall(text.lower())


class WordTokenizer:
    """Word-level tokenizer: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4), then words by frequency.

    Shape:
        encode: a text -> ``L`` ids (``L + 2`` with ``[CLS]`` and ``[SEP]``); decode: ids -> words.

    Examples:
        >>> tok = WordTokenizer.build(["the cat sat", "the cat ran"], min_freq=2)
        >>> tok.encode("the dog sat", special=True)  # [CLS] the [UNK] [UNK] [SEP]: 'cat', 'the' are frequent
        [2, 6, 1, 1, 3]
        >>> tok.decode([2, 6, 5, 3])
        ['[CLS]', 'the', 'cat', '[SEP]']
    """

    def __init__(self, words: Iterable[str]) -> None:
        self.idx2word: list[str] = list(SPECIALS)
        self.word2idx: dict[str, int] = {w: i for i, w in enumerate(SPECIALS)}
        self.add_tokens(words)

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int = 4000, min_freq: int = 2) -> WordTokenizer:
        """The ``max_size - 5`` most frequent words seen at least ``min_freq`` times (ties: alphabetical)."""
        counts = Counter(w for t in texts for w in split_words(t))
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(ranked[: max(max_size - len(SPECIALS), 0)])

    def encode(self, text: str | Sequence[str], special: bool = False) -> list[int]:
        """A text (or its words) -> ids; unknown words -> ``[UNK]``; ``special``: add [CLS] .. [SEP]."""
        words = split_words(text) if isinstance(text, str) else list(text)
        ids = [self.word2idx.get(w, UNK_ID) for w in words]
        return [CLS_ID, *ids, SEP_ID] if special else ids
    # --8<-- [end:tokenizer]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> words, ``[PAD]`` dropped."""
        return [self.idx2word[int(i)] for i in ids if int(i) != PAD_ID]

    def add_tokens(self, words: Iterable[str]) -> int:
        """Append the words not yet in the vocabulary (HF ``tokenizer.add_tokens``); returns how many."""
        before = len(self.idx2word)
        for w in words:
            if w not in self.word2idx:
                self.word2idx[w] = len(self.idx2word)
                self.idx2word.append(w)
        return len(self.idx2word) - before

    def __len__(self) -> int:
        return len(self.idx2word)


def coverage(tokenizer: WordTokenizer, sentences: Iterable[Sequence[str]]) -> dict[str, Any]:
    """How much of a downstream text the tokenizer knows: share of word occurrences and of
    distinct words in its vocabulary, and the distinct words it lacks (sorted)."""
    counts = Counter(w for s in sentences for w in s)
    known = {w for w in counts if w in tokenizer.word2idx}
    return {
        "token_coverage": sum(counts[w] for w in known) / max(sum(counts.values()), 1),
        "type_coverage": len(known) / max(len(counts), 1),
        "n_types": len(counts),
        "missing": sorted(set(counts) - known),
    }


def mlm_blocks(tokenizer: WordTokenizer, texts: Iterable[str], seq_len: int = 64) -> Tensor:
    """The texts as one stream of ids cut into blocks ``[CLS] w_1 .. w_{S-2} [SEP]``.

    Shape:
        -> ``(B, S)`` int64 with ``S = seq_len`` (the last incomplete block is dropped)
    """
    if seq_len < 3:
        raise ValueError(f"seq_len must be >= 3, got {seq_len}")
    stream = [i for t in texts for i in tokenizer.encode(t)]
    body = seq_len - 2
    n = len(stream) // body
    x = torch.tensor(stream[: n * body], dtype=torch.long).view(n, body)  # (B, S - 2)
    cls = torch.full((n, 1), CLS_ID, dtype=torch.long)
    sep = torch.full((n, 1), SEP_ID, dtype=torch.long)
    return torch.cat([cls, x, sep], dim=1)  # (B, S)


# ============================================================================================
# Masking: BERT's 15 % with 80 / 10 / 10
# ============================================================================================
# --8<-- [start:masking]
def mask_tokens(ids: Tensor, vocab_size: int, generator: torch.Generator | None = None,
                mlm_probability: float = 0.15) -> tuple[Tensor, Tensor]:
    """BERT's masking (Devlin et al. 2018, §3.1): choose ``mlm_probability`` of the ordinary
    positions; replace 80 % of them by ``[MASK]``, 10 % by a random ordinary token, keep 10 %.

    Returns ``(inputs, labels)``: labels hold the original id at chosen positions, ``-100``
    elsewhere (no loss there). Shape: ids ``(N, S)`` -> inputs, labels ``(N, S)``.
    """
    ordinary = ids >= len(SPECIALS)  # never choose [PAD] [CLS] [SEP]
    u = torch.rand(ids.shape, generator=generator)
    chosen = ordinary & (u < mlm_probability)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    r = torch.rand(ids.shape, generator=generator)  # decides what a chosen position becomes
    random_ids = torch.randint(len(SPECIALS), vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (r < 0.8), torch.full_like(ids, MASK_ID), ids)
    inputs = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, inputs)
    return inputs, labels  # r >= 0.9: the chosen token stays as it is
# --8<-- [end:masking]


# ============================================================================================
# Pre-training: BertForMaskedLM from a small BertConfig
# ============================================================================================
@dataclass
class ModelSize:
    """The small BERT of the study (BERT-base: E=768, 12 layers, 12 heads, F=3072).

    Examples:
        >>> size = ModelSize(d_model=32, num_layers=2, nhead=2, dim_feedforward=64, max_len=16)
        >>> bert_config(100, size).hidden_size, bert_config(100, size).num_hidden_layers
        (32, 2)
    """

    d_model: int = 64          # E, BertConfig.hidden_size
    num_layers: int = 4        # BertConfig.num_hidden_layers
    nhead: int = 4             # H, BertConfig.num_attention_heads
    dim_feedforward: int = 256  # F, BertConfig.intermediate_size
    max_len: int = 64          # BertConfig.max_position_embeddings
    dropout: float = 0.1       # hidden and attention dropout (BERT's 0.1)


def bert_config(vocab_size: int, size: ModelSize, num_labels: int = 2):
    """A ``transformers.BertConfig`` of our size and vocabulary (pad id 0, one segment type)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=size.d_model, num_hidden_layers=size.num_layers,
                      num_attention_heads=size.nhead, intermediate_size=size.dim_feedforward,
                      max_position_embeddings=size.max_len, type_vocab_size=1, pad_token_id=PAD_ID,
                      hidden_dropout_prob=size.dropout, attention_probs_dropout_prob=size.dropout,
                      num_labels=num_labels)


def warmup_linear(optimizer: torch.optim.Optimizer, warmup: int, total: int):
    """BERT's schedule: linear warmup over ``warmup`` steps, then linear decay to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return max(0.0, (total - step) / max(total - warmup, 1))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def mlm_evaluate(model, blocks: Tensor, vocab_size: int, seed: int = 1234, batch_size: int = 64) -> dict[str, float]:
    """Held-out MLM loss and accuracy at the chosen positions, on a masking fixed by ``seed``."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    nll, right, count = 0.0, 0, 0
    for lo in range(0, len(blocks), batch_size):
        inputs, labels = mask_tokens(blocks[lo : lo + batch_size], vocab_size, gen)
        logits = model(input_ids=inputs, attention_mask=(inputs != PAD_ID).long()).logits  # (N, S, V)
        sel = labels != IGNORE
        nll += float(torch.nn.functional.cross_entropy(logits[sel], labels[sel], reduction="sum"))
        right += int((logits[sel].argmax(-1) == labels[sel]).sum())
        count += int(sel.sum())
    model.train()
    return {"loss": nll / max(count, 1), "accuracy": right / max(count, 1), "predicted": count}


# --8<-- [start:pretrain]
def pretrain(model, blocks: Tensor, heldout: Tensor, vocab_size: int, steps: int = 2000, batch_size: int = 32,
             lr: float = 1e-3, warmup: int = 100, seed: int = 0, eval_every: int = 250,
             callback: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Masked-language modelling: every step masks a fresh random batch of blocks (BERT's
    dynamic masking as in RoBERTa) and takes AdamW's step on the loss at the chosen positions."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = warmup_linear(opt, warmup, steps)
    curve, heldout_curve, t0 = [], [], time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        batch = blocks[torch.randint(len(blocks), (batch_size,), generator=gen)]  # (N, S)
        inputs, labels = mask_tokens(batch, vocab_size, gen)
        loss = model(input_ids=inputs, attention_mask=(inputs != PAD_ID).long(), labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        curve.append(loss.item())
        if step % eval_every == 0 or step == steps:
            heldout_curve.append({"step": step, **mlm_evaluate(model, heldout, vocab_size)})
            if callback:
                h = heldout_curve[-1]
                callback({"step": step, "train_loss": float(np.mean(curve[-eval_every:])),
                          "heldout_loss": h["loss"], "heldout_accuracy": h["accuracy"]})
    return {"train_loss": curve, "heldout": heldout_curve, "time_s": time.perf_counter() - t0}
# --8<-- [end:pretrain]


# ============================================================================================
# Fine-tuning on sentiment: from_pretrained + a new head
# ============================================================================================
def sentiment_sentences(data, split: str) -> tuple[list[list[str]], np.ndarray]:
    """The words and labels of one split of a sentiment :class:`TaskData` (pads dropped)."""
    part = data.split(split)
    words = [[data.src_vocab.idx2word[int(i)] for i in row[:n]] for row, n in zip(part["src"], part["src_len"])]
    return words, np.asarray(part["label"])


def encode_batch(tokenizer: WordTokenizer, sentences: Sequence[Sequence[str]]) -> Tensor:
    """``[CLS] words [SEP]`` for each sentence, padded with ``[PAD]`` to the longest.

    Shape: ``N`` word lists -> ``(N, S)`` int64.
    """
    rows = [tokenizer.encode(s, special=True) for s in sentences]
    S = max(map(len, rows))
    return torch.tensor([r + [PAD_ID] * (S - len(r)) for r in rows], dtype=torch.long)


# --8<-- [start:from_pretrained]
def classifier_from_pretrained(folder: str | Path, num_labels: int, vocab_size: int | None = None):
    """``BertForSequenceClassification`` with the encoder of a saved ``BertForMaskedLM``.

    Returns ``(model, missing_keys)``: the keys the checkpoint did not have, i.e. the new
    head (and the pooler, which MLM alone never trains). With ``vocab_size`` larger than the
    checkpoint's, the embedding table grows; the new rows start random (``add_tokens`` +
    ``resize_token_embeddings``).
    """
    from transformers import BertForSequenceClassification

    model, info = BertForSequenceClassification.from_pretrained(
        str(folder), num_labels=num_labels, output_loading_info=True)
    if vocab_size is not None and vocab_size != model.config.vocab_size:
        model.resize_token_embeddings(vocab_size, mean_resizing=False)
    return model, sorted(info["missing_keys"])
# --8<-- [end:from_pretrained]


# --8<-- [start:freezing]
def freeze_lower_layers(model, k: int) -> int:
    """Freeze the embeddings and encoder layers ``0 .. k-1`` (``k = 0``: nothing frozen).

    Returns the number of parameters left trainable.
    """
    layers = model.bert.encoder.layer
    if not 0 <= k <= len(layers):
        raise ValueError(f"k must be in 0..{len(layers)}, got {k}")
    frozen = [*([model.bert.embeddings] if k > 0 else []), *layers[:k]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
# --8<-- [end:freezing]


# --8<-- [start:discriminative]
def discriminative_param_groups(model, lr: float, decay: float) -> list[dict]:
    """Per-layer learning rates: the head and the top layer get ``lr``, layer ``l`` (0 = lowest
    of ``L``) gets ``lr * decay ** (L - 1 - l)``, the embeddings ``lr * decay ** L``."""
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    layers = model.bert.encoder.layer
    L = len(layers)
    groups = [{"params": list(model.bert.embeddings.parameters()), "lr": lr * decay**L, "name": "embeddings"}]
    for i, layer in enumerate(layers):
        groups.append({"params": list(layer.parameters()), "lr": lr * decay ** (L - 1 - i), "name": f"layer {i}"})
    in_groups = {id(p) for g in groups for p in g["params"]}
    head = [p for p in model.parameters() if id(p) not in in_groups]  # pooler + classifier
    groups.append({"params": head, "lr": lr, "name": "pooler + classifier"})
    return groups
# --8<-- [end:discriminative]


@torch.no_grad()
def classify_accuracy(model, ids: Tensor, labels: Tensor, batch_size: int = 256) -> float:
    """Share of rows whose argmax logit is the label. Shape: ids ``(N, S)``, labels ``(N,)``."""
    model.eval()
    right = 0
    for lo in range(0, len(ids), batch_size):
        x = ids[lo : lo + batch_size]
        logits = model(input_ids=x, attention_mask=(x != PAD_ID).long()).logits  # (N, C)
        right += int((logits.argmax(-1) == labels[lo : lo + batch_size]).sum())
    model.train()
    return right / len(ids)


# --8<-- [start:finetune]
def finetune(model, train_ids: Tensor, train_labels: Tensor, eval_ids: Tensor, eval_labels: Tensor,
             steps: int = 400, batch_size: int = 32, lr: float = 1e-4, warmup_fraction: float = 0.1,
             freeze: int = 0, layer_decay: float = 1.0, seed: int = 0, eval_every: int | None = None) -> dict[str, Any]:
    """Train every trainable parameter on the labelled examples with AdamW and BERT's schedule.

    ``freeze`` lower layers are frozen first; ``layer_decay < 1`` gives per-layer learning
    rates. Returns the accuracy on ``eval_*`` at the end (and every ``eval_every`` steps).
    """
    trainable = freeze_lower_layers(model, freeze)
    groups = discriminative_param_groups(model, lr, layer_decay)
    groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in groups]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, weight_decay=0.01)
    sched = warmup_linear(opt, int(warmup_fraction * steps), steps)
    gen = torch.Generator().manual_seed(seed)
    curve, t0 = [], time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        pick = torch.randint(len(train_ids), (min(batch_size, len(train_ids)),), generator=gen)
        x = train_ids[pick]
        x = x[:, : int((x != PAD_ID).sum(1).max())]  # drop all-pad columns, (N, S')
        loss = model(input_ids=x, attention_mask=(x != PAD_ID).long(), labels=train_labels[pick]).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (eval_every and step % eval_every == 0) or step == steps:
            curve.append({"step": step, "accuracy": classify_accuracy(model, eval_ids, eval_labels)})
    return {"accuracy": curve[-1]["accuracy"], "curve": curve, "trainable_params": trainable,
            "time_s": time.perf_counter() - t0, "ms_per_step": 1000 * (time.perf_counter() - t0) / steps}
# --8<-- [end:finetune]


def count_params(model) -> int:
    """Trainable scalars of a (HuggingFace) model: ``transformer_anatomy.torch.num_parameters``."""
    from transformer_anatomy.torch import num_parameters

    return num_parameters(model)


def initial_loss_check(vocab_size: int) -> float:
    """The MLM loss of a uniform prediction over the vocabulary: ``ln V``."""
    return math.log(vocab_size)


# ============================================================================================
# Figures of the study (returned, never shown or saved here)
# ============================================================================================
def plot_pretraining(result: dict):
    """Pre-training loss per step (smoothed) and the held-out MLM loss; ``ln V`` dashed."""
    from matplotlib.figure import Figure

    pt = result["pretraining"]
    loss = np.asarray(pt["train_loss"])
    w = max(len(loss) // 40, 1)
    smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(w, len(loss) + 1), smooth, color="tab:blue", label=f"pre-training batches (mean of {w}, dropout on)")
    held = [{"step": 0, **pt["initial_heldout"]}, *pt["heldout"]] if "initial_heldout" in pt else pt["heldout"]
    ax.plot([h["step"] for h in held], [h["loss"] for h in held], "o-", color="tab:orange",
            label="held-out topics (dropout off)")
    ax.axhline(pt["ln_V"], color="tab:gray", ls="--", lw=1, label="ln V (uniform guess)")
    ax.set_xlabel("step")
    ax.set_ylabel("MLM loss (nats per masked token)")
    ax.legend(frameon=False)
    return fig


def plot_labels(result: dict):
    """Test accuracy against the number of labelled examples: pre-trained and from scratch."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for init, color in (("pretrained", "tab:blue"), ("scratch", "tab:orange")):
        rows = [r for r in result["labels"]["rows"] if r["init"] == init]
        n = [r["n_labels"] for r in rows]
        ax.plot(n, [r["accuracy_mean"] for r in rows], "o-", color=color,
                label="pre-trained" if init == "pretrained" else "from scratch")
        ax.fill_between(n, [r["accuracy_min"] for r in rows], [r["accuracy_max"] for r in rows], color=color,
                        alpha=0.2, lw=0)
    ax.axhline(result["labels"]["majority"], color="tab:gray", ls="--", lw=1, label="majority class")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training sentences")
    ax.set_ylabel("test accuracy")
    ax.legend(frameon=False)
    return fig


def plot_tips(result: dict):
    """The three fine-tuning tips: learning rate, frozen layers, per-layer learning-rate decay."""
    from matplotlib.figure import Figure

    tips = result["tips"]
    fig = Figure(figsize=(9.6, 3.2), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3, sharey=True)
    for init, color in (("pretrained", "tab:blue"), ("scratch", "tab:orange")):
        rows = [r for r in tips["lr"]["rows"] if r["init"] == init]
        ax1.plot([r["lr"] for r in rows], [r["accuracy"] for r in rows], "o-", color=color,
                 label="pre-trained" if init == "pretrained" else "from scratch")
    ax1.axvline(tips["lr"]["pretraining_lr"], color="tab:gray", ls="--", lw=1, label="pre-training lr")
    ax1.set_xscale("log")
    ax1.set_xlabel("fine-tuning learning rate")
    ax1.set_ylabel("test accuracy")
    ax1.legend(frameon=False, fontsize=8)
    scratch = max((r for r in tips["lr"]["rows"] if r["init"] == "scratch"), key=lambda r: r["valid_accuracy"])
    rows = tips["freeze"]["rows"]
    ax2.plot([r["frozen_layers"] for r in rows], [r["accuracy"] for r in rows], "o-", color="tab:blue")
    ax2.set_xticks([r["frozen_layers"] for r in rows])
    ax2.set_xlabel("frozen lower layers")
    ax2.set_title("embeddings frozen too when > 0", fontsize=9)
    rows = tips["discriminative"]["rows"]
    ax3.plot([r["decay"] for r in rows], [r["accuracy"] for r in rows], "o-", color="tab:blue")
    ax3.set_xlabel("per-layer lr decay ξ")
    ax3.set_title("1 = one lr for every layer", fontsize=9)
    ax3.invert_xaxis()
    for ax in (ax2, ax3):
        ax.axhline(scratch["accuracy"], color="tab:orange", ls=":", lw=1.5, label="from scratch (best lr)")
    ax2.legend(frameon=False, fontsize=8)
    return fig
