"""The small models the generation page runs: HuggingFace's Llama and GPT-2 built from a config
(random weights, nothing downloaded) and ours loaded from them with ``from_hf``.

Random weights drawn with HF's ``initializer_range = 0.02`` give next-token distributions that
are almost uniform (every logit near 0), where greedy decoding and beam search are decided by
tiny differences. The page's models use a wider initialisation (``INIT``), so that their
distributions are peaked like a trained model's and every comparison is decided by clear margins.
"""

import functools

import numpy as np
import torch
import transformers

from transformer_anatomy.numpy.hf import from_hf as numpy_from_hf
from transformer_anatomy.torch.hf import from_hf as torch_from_hf

V = 48  # vocabulary size
INIT = 0.3  # std of the random weights (HF's initializer_range)
NO_SPECIAL = dict(eos_token_id=None, bos_token_id=None, pad_token_id=None)  # else HF stops at id 2
CONFIGS = {
    "llama": lambda width, layers: transformers.LlamaConfig(
        vocab_size=V, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        initializer_range=INIT, **NO_SPECIAL),
    "gpt2": lambda width, layers: transformers.GPT2Config(
        vocab_size=V, n_embd=width, n_layer=layers, n_head=4, n_positions=512,
        initializer_range=INIT, **NO_SPECIAL),
}
HF_CLASSES = {"llama": transformers.LlamaForCausalLM, "gpt2": transformers.GPT2LMHeadModel}
FAMILY_NAMES = {"llama": "Llama", "gpt2": "GPT-2"}


def hf_model(family="llama", width=32, layers=2, seed=0):
    """A HuggingFace causal LM with seeded random weights, float32, in eval mode (built once)."""
    return _hf_model(family, width, layers, seed)


@functools.cache
def _hf_model(family, width, layers, seed):
    with torch.random.fork_rng():                 # seeded, and the global RNG left as it was
        torch.manual_seed(seed)
        model = HF_CLASSES[family](CONFIGS[family](width, layers))
    return model.eval()


def ours(family="llama", backend="numpy", width=32, layers=2, seed=0):
    """Our model (NumPy or PyTorch backend) with the weights of :func:`hf_model` (built once)."""
    return _ours(family, backend, width, layers, seed)


@functools.cache
def _ours(family, backend, width, layers, seed):
    convert = numpy_from_hf if backend == "numpy" else torch_from_hf
    return convert(hf_model(family, width, layers, seed))


def prompt(T=6, N=1, seed=0):
    """(N, T) int64 token ids, seeded."""
    return np.random.default_rng(seed).integers(0, V, size=(N, T), dtype=np.int64)


def hf_generate(family, ids, max_new_tokens, **kwargs):
    """HF's ``generate`` on NumPy ids, as a NumPy array."""
    with torch.no_grad():
        out = hf_model(family).generate(torch.as_tensor(ids), max_new_tokens=max_new_tokens, **kwargs)
    return out.numpy()
