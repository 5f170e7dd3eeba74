"""HuggingFace's attention_mask (1 = attend) and what BERT turns it into before the softmax."""

import torch
from transformers import BertConfig, BertModel
from transformers.masking_utils import create_bidirectional_mask


def small_config(**kw):
    args = dict(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=32, max_position_embeddings=32)
    args.update(kw)
    return BertConfig(**args)


def additive_mask(attention_mask, dtype=torch.float32):
    """The classic "extended" mask: (1 - mask) * finfo.min, broadcast over heads and queries. (N, S) -> (N, 1, 1, S)."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def masks_bert_builds(attention_mask, E=16):
    """The 4-D mask BertModel passes to its attention layers, for each attention implementation."""
    N, S = attention_mask.shape
    embeddings = torch.zeros(N, S, E)  # only its shape, dtype and device are used
    return {impl: create_bidirectional_mask(config=small_config(hidden_size=E, attn_implementation=impl),
                                            inputs_embeds=embeddings, attention_mask=attention_mask)
            for impl in ("eager", "sdpa")}


def padding_invariance(seed=0):
    """A sentence alone vs the same sentence padded: with the mask the real positions agree, without they do not."""
    torch.manual_seed(seed)
    bert = BertModel(small_config()).eval()
    ids = torch.tensor([[5, 17, 42, 8]])
    padded = torch.tensor([[5, 17, 42, 8, 0, 0, 0]])  # pad_token_id = 0
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        alone = bert(input_ids=ids).last_hidden_state
        with_mask = bert(input_ids=padded, attention_mask=mask).last_hidden_state[:, :4]
        without = bert(input_ids=padded).last_hidden_state[:, :4]
    return (with_mask - alone).abs().max().item(), (without - alone).abs().max().item()


def report():
    """Print the masks and the padding check."""
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])  # second sequence: 2 real tokens, 2 pads
    print("attention_mask (1 = attend, 0 = padding):\n", attention_mask.numpy())
    built = masks_bert_builds(attention_mask)
    for impl, m in built.items():
        print(f"\nattn_implementation={impl!r}: {m.dtype}, shape {tuple(m.shape)}; sequence 2, every query row:\n", m[1, 0].numpy())
    manual = additive_mask(attention_mask).expand_as(built["eager"])
    print(f"\n(1 - mask) * finfo(float32).min == the eager mask: {torch.equal(manual, built['eager'])}")
    print(f"the sdpa mask is the 0/1 mask as bool (True = attend): {torch.equal(built['sdpa'][:, 0, 0], attention_mask.bool())}")
    no_pad = masks_bert_builds(torch.ones(2, 4, dtype=torch.long))
    print(f"with no padding at all, the mask passed on is: {no_pad}")
    print(f"BertModel has get_extended_attention_mask: {hasattr(BertModel, 'get_extended_attention_mask')}")
    d_with, d_without = padding_invariance()
    print(f"\nsentence alone vs padded + attention_mask : max |diff| at real positions = {d_with:.1e}")
    print(f"sentence alone vs padded, no attention_mask: max |diff| at real positions = {d_without:.1e}")
