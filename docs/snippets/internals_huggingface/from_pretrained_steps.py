"""What from_pretrained does, step by step, on a small random BERT saved to a temporary folder (no download)."""

import collections
import contextlib
import os
import tempfile

import torch
import transformers
from safetensors.torch import load_file, save_file
from torch.nn.modules.module import register_module_parameter_registration_hook
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel


def small_config():
    """A BERT small enough to build and save in milliseconds."""
    return BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports and progress bars for the block, then restore them."""
    log = transformers.utils.logging
    verbosity, bars = log.get_verbosity(), log.is_progress_bar_enabled()
    log.set_verbosity_error()
    log.disable_progress_bar()
    try:
        yield
    finally:
        log.set_verbosity(verbosity)
        if bars:
            log.enable_progress_bar()


def save_small(folder, cls=BertModel, seed=0):
    """Build a random ``cls`` from small_config(), save it with save_pretrained, return the model."""
    torch.manual_seed(seed)
    model = cls(small_config())
    with quiet_transformers():
        model.save_pretrained(folder)
    return model


# --8<-- [start:by_hand]
def from_pretrained_by_hand(folder):
    """The steps of from_pretrained, written out (as transformers 4 did them, on the CPU)."""
    config = BertConfig.from_pretrained(folder)  # 1. config.json -> BertConfig
    model = BertModel(config)  # 2. build the architecture (randomly initialised)
    state_dict = load_file(os.path.join(folder, "model.safetensors"))  # 3. read the weights file
    result = model.load_state_dict(state_dict, strict=False)  # 4. copy them in; report what did not fit
    model.tie_weights()  # 5. re-tie shared weights (e.g. MLM decoder = word embeddings)
    model.eval()  # 6. dropout off
    return model, result
# --8<-- [end:by_hand]


def registered_devices(fn):
    """Run fn(); count the devices of the parameters registered while it ran, by device type."""
    devices = collections.Counter()
    handle = register_module_parameter_registration_hook(
        lambda module, name, param: devices.update([param.device.type]) if param is not None else None)
    try:
        out = fn()
    finally:
        handle.remove()
    return out, dict(devices)


def draws_random_numbers(fn, seed=0):
    """Did fn() consume torch's random number generator (i.e. initialise anything randomly)?"""
    torch.manual_seed(seed)
    expected = torch.rand(1)
    torch.manual_seed(seed)
    out = fn()
    return out, not torch.equal(torch.rand(1), expected)


def load(cls, folder, **kwargs):
    """cls.from_pretrained(folder) quietly; returns (model, loading info as sorted lists)."""
    with quiet_transformers():
        model, info = cls.from_pretrained(folder, output_loading_info=True, **kwargs)
    return model, {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys")}


def steps_demo():
    """Save, load both ways, and compare; returns everything the page prints."""
    with tempfile.TemporaryDirectory() as folder:
        original = save_small(folder)
        files = {name: os.path.getsize(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}
        stored = load_file(os.path.join(folder, "model.safetensors"))
        (loaded, info), devices = registered_devices(lambda: load(BertModel, folder))
        _, loading_draws = draws_random_numbers(lambda: load(BertModel, folder))
        _, head_draws = draws_random_numbers(lambda: load(BertForSequenceClassification, folder, num_labels=3))
        (by_hand, result), by_hand_draws = draws_random_numbers(lambda: from_pretrained_by_hand(folder))
    ids = torch.randint(1, 100, (2, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outs = [m.eval()(input_ids=ids).last_hidden_state for m in (original, loaded, by_hand)]
    return {
        "files": files, "n_stored": len(stored), "n_params": len(original.state_dict()),
        "info": info, "devices": devices, "training": loaded.training,
        "random_draws": {"BertModel.from_pretrained (complete checkpoint)": loading_draws,
                         "BertForSequenceClassification.from_pretrained (new head)": head_draws,
                         "by hand (BertModel(config), then load_state_dict)": by_hand_draws},
        "by_hand_missing": result.missing_keys, "by_hand_unexpected": result.unexpected_keys,
        "loaded_vs_original": (outs[1] - outs[0]).abs().max().item(),
        "by_hand_vs_loaded": (outs[2] - outs[1]).abs().max().item(),
    }


def key_cases():
    """Loading info for checkpoints that do not match the model exactly."""
    cases = {}
    with tempfile.TemporaryDirectory() as base, tempfile.TemporaryDirectory() as mlm_dir:
        save_small(base)
        path = os.path.join(base, "model.safetensors")
        stored = load_file(path)
        # a) a base-model checkpoint loaded under a task head: the head is missing (newly initialised)
        cases["BertForSequenceClassification <- BertModel checkpoint"] = load(BertForSequenceClassification, base, num_labels=3)[1]
        # b) a pre-training checkpoint (keys prefixed "bert.") loaded as the bare encoder
        mlm = save_small(mlm_dir, BertForMaskedLM)
        mlm_keys = load_file(os.path.join(mlm_dir, "model.safetensors")).keys()
        cases["BertModel <- BertForMaskedLM checkpoint"] = load(BertModel, mlm_dir)[1]
        reloaded, _ = load(BertForMaskedLM, mlm_dir)
        tied = {"decoder weight stored in the file": "cls.predictions.decoder.weight" in mlm_keys,
                "stored keys start with 'bert.'": sum(k.startswith("bert.") for k in mlm_keys),
                "decoder.weight is word_embeddings.weight after loading":
                    reloaded.cls.predictions.decoder.weight is reloaded.bert.embeddings.word_embeddings.weight}
        # c) a key removed and a key added
        edited = dict(stored)
        edited.pop("encoder.layer.1.output.dense.bias")
        edited["encoder.layer.0.extra.weight"] = torch.zeros(3)
        save_file(edited, path, metadata={"format": "pt"})
        cases["BertModel <- one key dropped, one key added"] = load(BertModel, base)[1]
        # d) old TensorFlow-era names: LayerNorm.gamma / LayerNorm.beta
        renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                   for k, v in stored.items()}
        save_file(renamed, path, metadata={"format": "pt"})
        model, info = load(BertModel, base)
        info["LayerNorm weights equal to the file's gamma"] = torch.equal(
            model.embeddings.LayerNorm.weight, renamed["embeddings.LayerNorm.gamma"])
        cases["BertModel <- LayerNorm.gamma/beta names"] = info
    return cases, tied


def report_steps():
    """Print the round trip."""
    d = steps_demo()
    print("save_pretrained wrote:")
    for name, size in d["files"].items():
        print(f"  {name:18s} {size:>7,} bytes")
    print(f"tensors in model.safetensors: {d['n_stored']}; in the model's state_dict: {d['n_params']}")
    print("from_pretrained loading info:")
    for k, v in d["info"].items():
        print(f"  {k}: {v}")
    print("parameters registered during from_pretrained, by device:", d["devices"])
    print(f"model.training after from_pretrained: {d['training']}")
    print("drew random numbers (= initialised something randomly):")
    for name, drew in d["random_draws"].items():
        print(f"  {name:58s} {drew}")
    print(f"max |loaded - original| = {d['loaded_vs_original']:.1e}")
    print(f"by hand: missing {d['by_hand_missing']}, unexpected {d['by_hand_unexpected']}")
    print(f"max |by hand - from_pretrained| = {d['by_hand_vs_loaded']:.1e}")


def report_keys():
    """Print the loading info of each mismatched case."""
    cases, tied = key_cases()
    for name, info in cases.items():
        print(name)
        for k, v in info.items():
            if isinstance(v, list):
                for key in v:
                    print(f"  {k.removesuffix('_keys'):10s} {key}")
            else:
                print(f"  {k}: {v}")
    print("BertForMaskedLM checkpoint:")
    for k, v in tied.items():
        print(f"  {k}: {v}")
