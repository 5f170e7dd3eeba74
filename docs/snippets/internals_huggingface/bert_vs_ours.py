"""Our TransformerEncoder reproduces BertModel's last_hidden_state once BERT's weights are copied into it."""

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from transformer_anatomy.torch import TransformerEncoder, TransformerEncoderLayer


def small_config(**kw):
    """A small random BERT (the same code path as BERT-base, just narrower and shallower)."""
    args = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=32)
    args.update(kw)
    return BertConfig(**args)


# --8<-- [start:rename]
def bert_layer_to_ours(layer, prefix=""):
    """Map one BertLayer's weights onto nn.TransformerEncoderLayer names (our encoder uses the same)."""
    a = layer.attention
    return {
        prefix + "self_attn.in_proj_weight": torch.cat([a.self.query.weight, a.self.key.weight, a.self.value.weight]),  # 3 x (E, E) -> (3E, E)
        prefix + "self_attn.in_proj_bias": torch.cat([a.self.query.bias, a.self.key.bias, a.self.value.bias]),  # 3 x (E,) -> (3E,)
        prefix + "self_attn.out_proj.weight": a.output.dense.weight,
        prefix + "self_attn.out_proj.bias": a.output.dense.bias,
        prefix + "norm1.weight": a.output.LayerNorm.weight,
        prefix + "norm1.bias": a.output.LayerNorm.bias,
        prefix + "linear1.weight": layer.intermediate.dense.weight,
        prefix + "linear1.bias": layer.intermediate.dense.bias,
        prefix + "linear2.weight": layer.output.dense.weight,
        prefix + "linear2.bias": layer.output.dense.bias,
        prefix + "norm2.weight": layer.output.LayerNorm.weight,
        prefix + "norm2.bias": layer.output.LayerNorm.bias,
    }
# --8<-- [end:rename]


def ours_from_bert(bert):
    """Our post-norm GELU encoder with BERT's sizes, eps, dtype and weights (loaded with strict=True)."""
    c = bert.config
    layer = TransformerEncoderLayer(c.hidden_size, c.num_attention_heads, c.intermediate_size, dropout=0.0,
                                    activation="gelu", layer_norm_eps=c.layer_norm_eps, batch_first=True)
    encoder = TransformerEncoder(layer, c.num_hidden_layers).to(bert.dtype)
    state = {}
    for i, bert_layer in enumerate(bert.encoder.layer):
        state.update(bert_layer_to_ours(bert_layer, f"layers.{i}."))
    encoder.load_state_dict(state, strict=True)
    return encoder.eval()


def bert_embeddings(bert, input_ids, token_type_ids):
    """word + position + token type embeddings, then LayerNorm (dropout is off in eval). (N, S) -> (N, S, E)."""
    e, c = bert.embeddings, bert.config
    positions = torch.arange(input_ids.size(1))  # (S,)
    x = e.word_embeddings.weight[input_ids] + e.position_embeddings.weight[positions] + e.token_type_embeddings.weight[token_type_ids]
    return F.layer_norm(x, (c.hidden_size,), e.LayerNorm.weight, e.LayerNorm.bias, c.layer_norm_eps)


def example_batch(vocab_size=100, pad_id=0, seed=0):
    """Two sentence pairs; the second is shorter and padded. attention_mask: 1 = real token."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab_size, (2, 9), generator=g)
    attention_mask = torch.ones(2, 9, dtype=torch.long)
    attention_mask[1, 6:] = 0
    ids[attention_mask == 0] = pad_id
    token_type_ids = torch.zeros_like(ids)
    token_type_ids[:, 4:] = 1  # second segment
    token_type_ids[attention_mask == 0] = 0
    return ids, attention_mask, token_type_ids


def compare(attn_implementation="sdpa", dtype=torch.float32, seed=0):
    """Max |ours - BERT| of last_hidden_state at real positions and at all positions."""
    torch.manual_seed(seed)
    bert = BertModel(small_config(attn_implementation=attn_implementation)).to(dtype).eval()
    ours = ours_from_bert(bert)
    ids, attention_mask, token_type_ids = example_batch(bert.config.vocab_size, bert.config.pad_token_id)
    with torch.no_grad():
        ref = bert(input_ids=ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        x = bert_embeddings(bert, ids, token_type_ids)
        out = ours(x, src_key_padding_mask=attention_mask == 0)  # HF: 1 = attend; ours: True = ignore
    diff = (out - ref).abs()
    return {"real": diff[attention_mask.bool()].max().item(), "all": diff.max().item(), "shape": tuple(out.shape)}


def report():
    """Print the comparison for both of BERT's attention implementations and two dtypes."""
    print("max |ours - BERT| over last_hidden_state")
    print(f"{'attn_implementation':20s} {'dtype':8s} {'shape':12s} {'real positions':>15s} {'all positions':>14s}")
    for impl in ("sdpa", "eager"):
        for dtype in (torch.float32, torch.float64):
            d = compare(impl, dtype)
            print(f"{impl:20s} {str(dtype).removeprefix('torch.'):8s} {str(d['shape']):12s} {d['real']:15.1e} {d['all']:14.1e}")
