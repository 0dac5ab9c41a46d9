"""config.json import of the dense decoder classes of hf_layouts_dense: defaults, what each reads, requires
and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_dense.py; here, without torch, what each class's config is read as. The weight
counts written out below are those of the modules transformers' code builds (D 32, N 4, K 2, H 8, F 48,
V 64, 4 layers unless a test says otherwise).
"""

from symroof.io.bind import count
from test_hf import _convert   # one config, read and refused the same way
from test_hf_more_classes import _small, refusals

# ----------------------------------------------------------------------------- OLMo 3


def _olmo3(**keys):
    return _small("Olmo3ForCausalLM", "olmo3", **{"sliding_window": 6, **keys})


def test_olmo3_reads_olmo2s_layer_and_every_fourth_layer_full():
    card = _convert(_olmo3(num_hidden_layers=9))
    assert (card.architecture, card.norm_placement, card.qk_norm, card.qk_norm_width) == ("olmo3", "post", True, "all")
    assert card.layers == (("sliding", 3), ("global", 1), ("sliding", 3), ("global", 1), ("sliding", 1))
    assert (card.sliding_window, card.n_kv_heads, card.qkv_bias, card.tie_embeddings) == (6, 2, False, False)
    # per layer: q 32x32, k and v 32x16, o 32x32; q and k RMSNorms of N·H = 32 and K·H = 16, two post-norms
    groups = count(_convert(_olmo3(attention_bias=True)), 1, 8).params_by_group
    assert groups["attention"] == 4 * (2 * 1056 + 2 * 528) and groups["norms"] == 4 * (32 + 16 + 2 * 32) + 32
    assert _convert(_olmo3(num_key_value_heads="null")).n_kv_heads == 4          # absent or null: N
    assert _convert(_olmo3(num_key_value_heads=None, head_dim=12)).head_dim == 12   # getattr: read when given
    full = _convert(_olmo3(layer_types=["full_attention"] * 4, sliding_window=None))     # absent: unused
    assert (full.sliding_window, full.layers) == (0, (("layer", 4),))


test_olmo3_refusals = refusals([
    ({"sliding_window": None}, ["missing key 'sliding_window'"]),       # transformers: 4096, OLMo 3 7B's
    ({"sliding_window": "null"}, ["'sliding_window' is null", "fails"]),  # its sliding mask needs one
    ({"sliding_window": "null", "layer_types": ["full_attention"] * 4}, ["'sliding_window' is null"]),
    ({"sliding_window": 0}, ["'sliding_window'", ">= 1"]),
    ({"head_dim": "null"}, ["'head_dim' is null"]),                     # getattr gives None: no width
    ({"layer_types": ["sliding_attention"] * 3}, ["'layer_types'", "4 entries"]),
    ({"layer_types": ["chunked_attention"] * 4}, ["'layer_types'", "'sliding_attention'"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),                   # Olmo3Config has none; its MLP: no bias
    ({"hidden_act": "relu"}, ["'hidden_act'", "gated"]),
], _olmo3)


# ----------------------------------------------------------------------------- SmolLM3


def _smol(**keys):
    return _small("SmolLM3ForCausalLM", "smollm3", **keys)


def test_smollm3_reads_the_llama_layer_its_nope_layers_and_where_it_slides():
    card = _convert(_smol(num_hidden_layers=8))
    assert (card.architecture, card.tie_embeddings, card.sliding_window, card.layers) == \
        ("smollm3", True, 0, (("layer", 8),))                                     # tied by default, no window
    assert card.left_out == ("no RoPE on 2 of 8 layers (no_rope_layers): RoPE's elementwise ops are counted on "
                             "every layer",)                                       # layers 3 and 7 (interval 4)
    # per layer: q 32x32 + 32, k and v 32x16 + 16, o 32x32 + 32; gate and up 32x48 + 48, down 48x32 + 32
    biased = count(_convert(_smol(attention_bias=True, mlp_bias=True)), 1, 8).params_by_group
    assert (biased["attention"], biased["mlp"]) == (4 * 3168, 4 * (2 * 1584 + 1568))
    # use_sliding_window with a window: the NoPE layers slide (its __post_init__), here 1 and 3
    slid = _convert(_smol(no_rope_layers=[1, 0, 1, 0, 1], use_sliding_window=True, sliding_window=6))
    assert slid.layers == (("global", 1), ("sliding", 1), ("global", 1), ("sliding", 1))
    assert slid.left_out[0].startswith("no RoPE on 2 of 4 layers")                 # the first 4 entries
    assert _convert(_smol(no_rope_layer_interval=1)).left_out[0].startswith("no RoPE on 4 of 4")
    assert _convert(_smol(no_rope_layers=[1] * 4, pretraining_tp=2)).left_out == ()
    assert _convert(_smol(num_key_value_heads="null")).n_kv_heads == 4            # null: N
    listed = _convert(_smol(use_sliding_window=True, sliding_window=6, layer_types=["full_attention"] * 3 +
                            ["sliding_attention"]))
    assert listed.layers == (("global", 3), ("sliding", 1))
    off = _convert(_smol(use_sliding_window=False, sliding_window=6))              # a window, never used
    assert (off.sliding_window, off.layers) == (0, (("layer", 4),))


test_smollm3_refusals = refusals([
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),         # transformers: 4
    ({"head_dim": "null"}, ["'head_dim' is null"]),
    ({"no_rope_layers": []}, ["'no_rope_layers' is empty"]),
    ({"no_rope_layers": [1, 0]}, ["'no_rope_layers'", "at least 4"]),
    ({"no_rope_layers": [1, 2, 1, 1]}, ["'no_rope_layers'", "each 0"]),
    ({"no_rope_layer_interval": 0}, ["'no_rope_layer_interval'", ">= 1"]),
    ({"use_sliding_window": "yes"}, ["'use_sliding_window'", "true or false"]),
    ({"layer_types": ["sliding_attention"] * 4, "sliding_window": 6}, ["'layer_types'", "use_sliding_window false"]),
    ({"layer_types": ["sliding_attention"] * 4, "use_sliding_window": True}, ["missing key 'sliding_window'"]),
    ({"hidden_act": "gelu_new", "max_window_layers": 4}, ["unknown key 'max_window_layers'"]),
], _smol)


# ----------------------------------------------------------------------------- Ministral, Ministral 3


def _ministral(**keys):
    return _small("MinistralForCausalLM", "ministral", **{"head_dim": 8, "sliding_window": 6, **keys})


def _ministral3(**keys):
    return _small("Ministral3ForCausalLM", "ministral3", **{"head_dim": 12, **keys})


def test_ministral_reads_mistrals_layer_and_its_layer_types():
    card = _convert(_ministral(attention_bias=None))
    assert (card.architecture, card.layers, card.sliding_window, card.qkv_bias, card.o_bias) == \
        ("ministral", (("layer", 4),), 6, False, False)
    assert card.blocks["layer"].attention == "sliding"                  # absent layer_types: every layer slides
    mixed = _convert(_ministral(layer_types=["full_attention", "sliding_attention"] * 2))
    assert mixed.layers == (("global", 1), ("sliding", 1), ("global", 1), ("sliding", 1))
    full = _convert(_ministral(layer_types=["full_attention"] * 4, sliding_window=None))    # absent: unused
    assert (full.sliding_window, full.layers) == (0, (("layer", 4),))
    assert _convert(_ministral(num_key_value_heads="null")).n_kv_heads == 4      # 4.x's rule, as Mistral's


def test_ministral3_reads_mistrals_layer_and_names_its_q_scaling():
    card = _convert(_ministral3())
    assert (card.architecture, card.head_dim, card.sliding_window, card.layers) == ("ministral3", 12, 0,
                                                                                   (("layer", 4),))
    assert card.left_out == ("position-dependent scaling of q (llama_4_scaling_beta, its default rope_parameters'): "
                             "its elementwise ops are not counted",)
    # per layer: q 32x48, k and v 32x24, o 48x32
    assert count(card, 1, 8).params_by_group["attention"] == 4 * (2 * 1536 + 2 * 768)
    slid = _convert(_ministral3(sliding_window=6, rope_parameters={"rope_type": "yarn", "factor": 16.0,
                                                                    "llama_4_scaling_beta": 0.1,
                                                                    "original_max_position_embeddings": 16384}))
    assert (slid.sliding_window, slid.layers) == (6, (("layer", 4),)) and "0.1" in slid.left_out[0]
    assert slid.blocks["layer"].attention == "sliding"


def test_ministral3_is_read_inside_a_mistral3_wrapper():
    text = {key: value for key, value in _ministral3(sliding_window="null").items() if key != "architectures"}
    card = _convert({"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3",
                     "tie_word_embeddings": False, "text_config": text, "vision_config": {"model_type": "pixtral"}})
    assert (card.architecture, card.head_dim, card.n_layers) == ("ministral3", 12, 4)


test_ministral_refusals = refusals([
    (_ministral, {"sliding_window": None}, ["missing key 'sliding_window'", "reference model"]),
    (_ministral, {"sliding_window": "null"}, ["'sliding_window' is null", "fails"]),
    (_ministral, {"head_dim": None}, ["'head_dim' is missing"]),         # its attention reads config.head_dim
    (_ministral, {"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),      # transformers: 8
    (_ministral, {"layer_types": ["sliding_attention"]}, ["'layer_types'", "4 entries"]),
    (_ministral, {"attention_bias": True}, ["unknown key 'attention_bias'"]),              # no biases built
    (_ministral3, {"head_dim": None}, ["'head_dim' is missing"]),        # transformers: 128
    (_ministral3, {"num_key_value_heads": "null"}, ["'num_key_value_heads' is null"]),   # 5.x refuses it
    (_ministral3, {"layer_types": ["full_attention"] * 4}, ["'layer_types'", "does not read it"]),
    (_ministral3, {"rope_parameters": {"rope_type": "default", "rope_theta": 1e4}},
     ["'rope_parameters.llama_4_scaling_beta'", "fails without it"]),
    (_ministral3, {"rope_scaling": {"rope_type": "linear", "factor": 2.0, "llama_4_scaling_beta": 0.1}},
     ["'rope_scaling.original_max_position_embeddings'"]),
    (_ministral3, {"rope_parameters": [0.1]}, ["'rope_parameters'", "mapping or null"]),
    (_ministral3, {"sliding_window": 0}, ["'sliding_window'", ">= 1"]),
])


# ----------------------------------------------------------------------------- GLM-4


def _glm4(**keys):
    return _small("Glm4ForCausalLM", "glm4", **{"head_dim": 8, **keys})


def test_glm4_reads_four_norms_a_fused_gate_up_and_partial_rope():
    card = _convert(_glm4())
    assert (card.architecture, card.norms_per_layer, card.fused_gate_up, card.rotary_pct) == ("glm4", 4, True, 0.5)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.tie_embeddings) == (True, False, False, False)
    # per layer: q 32x32 + 32, k and v 32x16 + 16, o 32x32; gate_up 32x96, down 48x32; four norms of 32
    groups = count(card, 1, 8).params_by_group
    assert (groups["attention"], groups["mlp"], groups["norms"]) == (4 * 3136, 4 * 4608, 4 * 128 + 32)
    assert _convert(_glm4(attention_bias=False)).qkv_bias is False
    assert _convert(_glm4(partial_rotary_factor=1.0)).rotary_pct == 1
    assert _convert(_glm4(rope_parameters={"rope_theta": 1e4, "partial_rotary_factor": 0.25})).rotary_pct == 0.25


test_glm4_refusals = refusals([
    ({"head_dim": None}, ["'head_dim' is missing"]),                    # transformers: 128
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),     # transformers: 2
    ({"num_key_value_heads": "null"}, ["'num_key_value_heads' is null"]),
    ({"partial_rotary_factor": 1.5}, ["'partial_rotary_factor'", "(0, 1]"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
    ({"sliding_window": 8}, ["unknown key 'sliding_window'"]),
], _glm4)


# ----------------------------------------------------------------------------- Cohere, Cohere 2

_NOTES = ("LayerNorm without a bias (CohereLayerNorm) counted as an RMSNorm: the same D weights; its mean "
          "subtraction's elementwise ops are not counted",
          "logit_scale (0.0625): its elementwise scaling of the logits is not counted")


def _cohere(**keys):
    return _small("CohereForCausalLM", "cohere", **keys)


def _cohere2(**keys):
    return _small("Cohere2ForCausalLM", "cohere2", **{"sliding_window": 6, **keys})


def test_cohere_reads_one_norm_a_parallel_layer_and_per_head_qk_norms():
    card = _convert(_cohere())
    assert (card.architecture, card.norms_per_layer, card.parallel_residual, card.norm, card.tie_embeddings) == \
        ("cohere", 1, True, "rms", True)
    assert (card.qk_norm, card.left_out, card.sliding_window) == (False, _NOTES, 0)
    # q/k norms of N x H = 32 and K x H = 16 weights; one norm of 32 a layer and a final one
    normed = _convert(_cohere(use_qk_norm=True, attention_bias=True, logit_scale=1.0, layer_norm_eps=1e-5))
    assert (normed.qk_norm, normed.qk_norm_width, normed.qkv_bias, normed.o_bias) == (True, "all", True, True)
    assert count(normed, 1, 8).params_by_group["norms"] == 4 * (32 + 32 + 16) + 32
    assert normed.left_out[1] == "logit_scale (1.0): its elementwise scaling of the logits is not counted"
    assert _convert(_cohere(use_qk_norm="null", head_dim=12)).qk_norm is False              # null: off
    assert _convert(_cohere(num_key_value_heads="null", head_dim=12)).head_dim == 12        # read when given


def test_cohere2_slides_all_but_every_fourth_layer_and_rotates_only_those():
    card = _convert(_cohere2(num_hidden_layers=9))
    assert card.layers == (("sliding", 3), ("global", 1), ("sliding", 3), ("global", 1), ("sliding", 1))
    assert (card.parallel_residual, card.norms_per_layer, card.qk_norm, card.head_dim) == (True, 1, False, 8)
    assert card.left_out == (*_NOTES, "no RoPE on 2 of 9 layers (its full-attention layers): RoPE's elementwise "
                             "ops are counted on every layer")
    assert _convert(_cohere2(sliding_window_pattern=2)).layers == (("sliding", 1), ("global", 1)) * 2
    listed = _convert(_cohere2(layer_types=["full_attention"] * 4, sliding_window=None, head_dim=8))
    assert (listed.sliding_window, listed.layers, listed.left_out[2][:17]) == (0, (("layer", 4),), "no RoPE on 4 of 4")


test_cohere_refusals = refusals([
    (_cohere, {"head_dim": "null"}, ["'head_dim' is null"]),
    (_cohere, {"use_qk_norm": 1}, ["'use_qk_norm'", "true or false"]),
    (_cohere, {"logit_scale": "null"}, ["'logit_scale'", "a number"]),          # the logits times None fails
    (_cohere, {"logit_scale": "1/16"}, ["'logit_scale'", "a number"]),
    (_cohere, {"sliding_window": 4}, ["unknown key 'sliding_window'"]),
    (_cohere, {"mlp_bias": True}, ["unknown key 'mlp_bias'"]),
    (_cohere2, {"head_dim": 12}, ["'head_dim'", "__post_init__"]),               # it sets D // N = 8
    (_cohere2, {"sliding_window": "null"}, ["'sliding_window' is null"]),        # its forward's sliding mask
    (_cohere2, {"sliding_window": None}, ["missing key 'sliding_window'"]),      # transformers: 4096
    (_cohere2, {"sliding_window_pattern": 0}, ["'sliding_window_pattern'", ">= 1"]),
    (_cohere2, {"layer_types": ["sliding_attention"] * 3}, ["'layer_types'", "4 entries"]),
    (_cohere2, {"use_qk_norm": True}, ["unknown key 'use_qk_norm'"]),            # Cohere 2 builds none
    (_cohere2, {"hidden_size": "big"}, ["'hidden_size'", "integer"]),            # its reader runs before hf's checks
    (_cohere2, {"num_attention_heads": 0}, ["'num_attention_heads'", "integer"]),   # was a ZeroDivisionError
])
