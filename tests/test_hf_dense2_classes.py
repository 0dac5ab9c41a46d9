"""config.json import of the dense decoder classes of hf_layouts_dense2 (Helium, Seed-OSS, EXAONE 4.0, Arcee):
defaults, what each reads, requires and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_dense2.py; here, without torch, what each class's config is read as. The weight
counts written out below are those of the modules transformers' code builds (D 32, N 4, K 2, H 8, F 48,
V 64, 4 layers unless a test says otherwise).
"""

from symroof.io.bind import count
from test_hf import _convert   # one config, read and refused the same way
from test_hf_more_classes import _small, refusals


def _helium(**keys):
    return _small("HeliumForCausalLM", "helium", **{"head_dim": 8, **keys})


def test_helium_reads_the_llama_layer_without_an_o_bias():
    card = _convert(_helium(attention_bias=True, mlp_bias=True))
    assert (card.architecture, card.qkv_bias, card.o_bias, card.mlp_bias, card.tie_embeddings) == \
        ("helium", True, False, True, False)
    # per layer: q 32x32 + 32, k and v 32x16 + 16, o 32x32 (no bias); gate and up 32x48 + 48, down 48x32 + 32
    groups = count(card, 1, 8).params_by_group
    assert (groups["attention"], groups["mlp"]) == (4 * 3136, 4 * (2 * 1584 + 1568))


test_helium_refusals = refusals([
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),     # transformers: 20
    ({"num_key_value_heads": "null"}, ["'num_key_value_heads' is null"]),
    ({"head_dim": None}, ["'head_dim' is missing"]),                           # transformers: 128
    ({"head_dim": 12}, ["'head_dim' (12)", "must equal 'hidden_size' (32)", "o_proj"]),
    ({"attention_out_bias": True}, ["unknown key 'attention_out_bias'"]),
    ({"attention_bias": 1}, ["'attention_bias'", "true or false"]),
], _helium)


def _seed(**keys):
    return _small("SeedOssForCausalLM", "seed_oss", **{"head_dim": 8, **keys})


def test_seed_oss_reads_its_three_bias_keys_and_names_its_dropouts():
    card = _convert(_seed())
    assert (card.architecture, card.qkv_bias, card.o_bias, card.mlp_bias) == ("seed_oss", True, False, False)
    assert card.left_out == ("dropout (attention_dropout 0.1, residual_dropout 0.1): counted as training without "
                             "dropout masks",)                       # SeedOssConfig's defaults, both 0.1
    assert _convert(_seed(attention_dropout=0.0, residual_dropout=0)).left_out == ()
    # per layer: q 32x32 + 32, k and v 32x16 + 16, o 32x32 + 32
    biased = _convert(_seed(attention_out_bias=True, mlp_bias=True, pretraining_tp=1))
    assert (biased.o_bias, biased.mlp_bias, count(biased, 1, 8).params_by_group["attention"]) == (True, True, 4 * 3168)
    assert _convert(_seed(attention_bias=False)).qkv_bias is False
    nulls = _convert(_seed(num_key_value_heads="null", head_dim="null"))      # its __post_init__: N and D // N
    assert (nulls.n_kv_heads, nulls.head_dim) == (4, 8)


test_seed_oss_refusals = refusals([
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),     # transformers: 8
    ({"head_dim": None}, ["'head_dim' is missing"]),                           # transformers: 128
    ({"attention_out_bias": "no"}, ["'attention_out_bias'", "true or false"]),
    ({"residual_dropout": 2}, ["'residual_dropout'", "dropout probability"]),
    ({"sliding_window": 8}, ["unknown key 'sliding_window'"]),
], _seed)


def _exaone(**keys):
    return _small("Exaone4ForCausalLM", "exaone4", **{"sliding_window": 6, **keys})


def test_exaone4_reads_post_norms_per_head_qk_norms_and_its_sliding_pattern():
    card = _convert(_exaone(num_hidden_layers=9))
    assert (card.architecture, card.norm_placement, card.qk_norm, card.qk_norm_width) == ("exaone4", "post", True, "head")
    assert card.layers == (("sliding", 3), ("global", 1), ("sliding", 3), ("global", 1), ("sliding", 1))
    assert card.left_out == ("no RoPE on 2 of 9 layers (its full-attention layers, while sliding_window is not "
                             "null): RoPE's elementwise ops are counted on every layer",)
    # two post-norms of D, q and k norms of H each, per layer; the final norm
    assert count(_convert(_exaone()), 1, 8).params_by_group["norms"] == 4 * (2 * 32 + 2 * 8) + 32
    published = _convert(_exaone(layer_types=["sliding_attention"] * 3 + ["full_attention"],
                                 sliding_window_pattern="LLLG", head_dim=12))       # as EXAONE-4.0-32B writes it
    assert (published.layers, published.head_dim) == ((("sliding", 3), ("global", 1)), 12)
    plain = _convert(_exaone(sliding_window="null", layer_types=["full_attention"] * 4, sliding_window_pattern=0))
    assert (plain.layers, plain.left_out, plain.sliding_window) == ((("layer", 4),), (), 0)   # every layer rotates
    nope = _convert(_exaone(sliding_window=None, sliding_window_pattern=1))    # absent: 4096, unused; all NoPE
    assert nope.sliding_window == 0 and nope.left_out[0].startswith("no RoPE on 4 of 4 layers")


test_exaone4_refusals = refusals([
    ({"sliding_window": None}, ["missing key 'sliding_window'"]),              # transformers: 4096
    ({"sliding_window": "null"}, ["'sliding_window' is null without 'layer_types'"]),
    ({"sliding_window": "null", "layer_types": ["sliding_attention"] * 4}, ["'sliding_window' is null", "sliding"]),
    ({"sliding_window_pattern": "LLLG"}, ["'sliding_window_pattern'", "without 'layer_types'"]),
    ({"sliding_window_pattern": "null"}, ["'sliding_window_pattern' is null", "without 'layer_types'"]),
    ({"sliding_window_pattern": 0}, ["'sliding_window_pattern'", ">= 1"]),
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),     # transformers: 32
    ({"head_dim": "null"}, ["'head_dim' is null"]),                            # getattr gives None: no width
    ({"layer_types": ["sliding_attention"] * 3}, ["'layer_types'", "4 entries"]),
    ({"attention_bias": True}, ["unknown key 'attention_bias'"]),              # Exaone4Config has none: no biases
], _exaone)


def _arcee(**keys):
    return _small("ArceeForCausalLM", "arcee", **keys)


def test_arcee_reads_a_plain_relu2_mlp():
    card = _convert(_arcee(hidden_act="relu2", mlp_bias=True, attention_bias=True))
    assert (card.architecture, card.mlp, card.qkv_bias, card.o_bias, card.mlp_bias) == ("arcee", "plain", True, True, True)
    # per layer: up 32x48 + 48 and down 48x32 + 32, no gate
    assert count(card, 1, 8).params_by_group["mlp"] == 4 * (1584 + 1568)
    nulls = _convert(_arcee(num_key_value_heads="null", head_dim="null"))     # its __post_init__: N and D // N
    assert (nulls.n_kv_heads, nulls.head_dim) == (4, 8)
    absent = _convert(_arcee(num_key_value_heads=None))
    assert (absent.n_kv_heads, absent.head_dim) == (4, 8)
    assert _convert(_arcee(head_dim=12)).head_dim == 12


test_arcee_refusals = refusals([
    ({"hidden_size": 30, "head_dim": 8}, ["'hidden_size' (30)", "multiple of 'num_attention_heads' (4)"]),
    ({"hidden_act": "swiglu"}, ["'hidden_act'", "plain MLP activations", "relu2"]),
    ({"intermediate_size": None}, ["missing key 'intermediate_size'"]),
], _arcee)
