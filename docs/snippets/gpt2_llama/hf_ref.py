"""Plumbing for docs/gpt2-llama.md: small HuggingFace models built from a config (nothing is
downloaded), HF's float32 upcasts made float64 for the float64 comparisons, and the printed
"max |ours - HF|" lines."""

import contextlib
import inspect
import textwrap

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.models.llama import modeling_llama


def llama_config(**kw):
    """A small Llama: the same code path as Llama-3-8B, narrower and shallower."""
    args = dict(vocab_size=40, hidden_size=32, intermediate_size=88, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    args.update(kw)
    return LlamaConfig(**args)


def gpt2_config(**kw):
    """A small GPT-2: the same code path as GPT-2 small (124M), narrower and shallower."""
    args = dict(vocab_size=40, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                bos_token_id=None, eos_token_id=None)
    args.update(kw)
    return GPT2Config(**args)


def hf_llama(dtype=torch.float64, seed=0, **kw):
    """A random HF LlamaForCausalLM in ``dtype``, eval mode; a float64 one is built under
    :func:`hf_float64`, so that its RoPE frequencies (a buffer made at construction) are float64."""
    torch.manual_seed(seed)
    with hf_float64() if dtype == torch.float64 else contextlib.nullcontext():
        return LlamaForCausalLM(llama_config(**kw)).to(dtype).eval()


def hf_gpt2(dtype=torch.float64, seed=0, **kw):
    """A random HF GPT2LMHeadModel in ``dtype``, eval mode."""
    torch.manual_seed(seed)
    return GPT2LMHeadModel(gpt2_config(**kw)).to(dtype).eval()


class _TorchFloat64:
    """``torch`` with ``float32`` / ``float`` meaning ``float64`` (everything else unchanged)."""

    def __getattr__(self, name):
        return torch.float64 if name in ("float32", "float") else getattr(torch, name)


@contextlib.contextmanager
def hf_float64():
    """Run HF's modeling_llama with its float32 upcasts (RMSNorm, RoPE angles) made float64.

    HF computes RMSNorm and the RoPE angles in float32 even in a float64 model, so an unpatched
    float64 HF Llama is only float32-accurate; with this, both sides compute in float64.
    """
    old = modeling_llama.torch
    modeling_llama.torch = _TorchFloat64()
    try:
        yield
    finally:
        modeling_llama.torch = old


def max_diff(a, b):
    """``max |a - b|`` of two arrays or tensors, as a float."""
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def show(obj, docstring=True):
    """Print ``obj``'s source as it is in ``src/``, dedented (without its docstring if asked)."""
    src = textwrap.dedent(inspect.getsource(obj))
    if not docstring:
        doc = inspect.getdoc(obj)
        fn = obj.__func__ if hasattr(obj, "__func__") else obj
        raw = fn.__doc__
        if doc and raw:
            for quote in ('"""', "'''"):
                block = quote + raw + quote
                if block in src:
                    start = src.index(block)
                    line_start = src.rindex("\n", 0, start) + 1
                    src = src[:line_start] + src[start + len(block):].lstrip("\n")
                    break
    print(src.rstrip())


def show_lines(obj, first, last):
    """Print the lines of ``obj``'s source from the one containing ``first`` to the one containing
    ``last`` (dedented). Raises if either is missing, so a renamed line fails the build."""
    lines = inspect.getsource(obj).splitlines()
    starts = [i for i, line in enumerate(lines) if first in line]
    if not starts:
        raise ValueError(f"{first!r} not found in the source of {obj.__qualname__}")
    ends = [i for i, line in enumerate(lines) if last in line and i >= starts[0]]
    if not ends:
        raise ValueError(f"{last!r} not found after {first!r} in the source of {obj.__qualname__}")
    print(textwrap.dedent("\n".join(lines[starts[0]:ends[0] + 1])).rstrip())
