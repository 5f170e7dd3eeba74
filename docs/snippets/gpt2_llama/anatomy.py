"""The opening table of docs/gpt2-llama.md: one block of each family, read off HuggingFace's
own modules (a small GPT2LMHeadModel and LlamaForCausalLM built from a config)."""

from gpt2_llama.hf_ref import gpt2_config, hf_gpt2, hf_llama, llama_config


def pieces():
    """{piece: (GPT-2, Llama)}, every entry read from the HF modules of one block."""
    g, l = hf_gpt2(), hf_llama()
    gb, lb = g.transformer.h[0], l.model.layers[0]
    gc, lc = g.config, l.config
    has_bias = lambda m: any(n.endswith("bias") for n, _ in m.named_parameters())  # noqa: E731
    return {
        "normalisation": (type(gb.ln_1).__name__ + " (weight, bias)", type(lb.input_layernorm).__name__ + " (weight)"),
        "positions": (f"learned table `wpe` {tuple(g.transformer.wpe.weight.shape)}, added to the tokens",
                      f"`{type(l.model.rotary_emb).__name__}`: no parameters, rotates q and k"),
        "attention": (f"{gc.n_head} heads, fused `c_attn` {tuple(gb.attn.c_attn.weight.shape)}",
                      f"{lc.num_attention_heads} query heads, {lc.num_key_value_heads} key/value heads"),
        "feed-forward": (f"`c_fc` → {type(gb.mlp.act).__name__} → `c_proj`, F = {gb.mlp.c_fc.weight.shape[1]}",
                         f"`gate_proj`, `up_proj` → {type(lb.mlp.act_fn).__name__} → `down_proj`, "
                         f"F = {lc.intermediate_size}"),
        "biases": ("yes" if has_bias(gb) else "no", "yes" if has_bias(lb) else "no"),
        "output head": ("tied to `wte`" if g.lm_head.weight is g.transformer.wte.weight else "own `lm_head`",
                        "tied" if l.lm_head.weight is l.model.embed_tokens.weight else "own `lm_head` (configurable)"),
    }


def report_pieces():
    print("| piece | GPT-2 | Llama |\n|---|---|---|")
    for name, (gpt2, llama) in pieces().items():
        print(f"| {name} | {gpt2} | {llama} |")
    g, l = gpt2_config(), llama_config()
    print(f"\nGPT-2: E = {g.n_embd}, H = {g.n_head}, {g.n_layer} layers, V = {g.vocab_size}, "
          f"n_positions = {g.n_positions}. Llama: E = {l.hidden_size}, H = {l.num_attention_heads}, "
          f"Hk = {l.num_key_value_heads}, {l.num_hidden_layers} layers, V = {l.vocab_size}, F = {l.intermediate_size}.")
