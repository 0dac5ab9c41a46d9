"""config.json import of more MoE classes (MiniMax-M2, Qwen3-VL wrappers, dots.llm1, ERNIE 4.5): defaults, what each reads, requires and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_more_moe_flops.py; here, without torch, what each class's config is read as. The
weight counts written out below are those of the modules transformers' code builds.
"""

import json
from fractions import Fraction
from pathlib import Path

import pytest

from symroof.io.bind import count
from symroof.io.hf import model_from_hf_config
from test_hf import _convert, _refused   # one config, read and refused the same way
from test_hf_more_classes import _small

SHAPES = json.loads((Path(__file__).resolve().parent / "data" / "published_shapes.json").read_text())

# ----------------------------------------------------------------------------- MiniMax-M2


def _minimax(**keys) -> dict:
    return _small("MiniMaxM2ForCausalLM", "minimax_m2", **{"head_dim": 12, "num_local_experts": 4,
                                                           "num_experts_per_tok": 2, **keys})


def test_minimax_m2_reads_experts_on_every_layer_and_qk_norms_over_all_heads():
    card = _convert(_minimax())
    assert (card.architecture, card.n_experts, card.experts_per_token, card.d_ff_expert, card.d_ff_shared) == \
        ("minimax_m2", 4, 2, 0, 0)
    assert (card.qk_norm, card.qk_norm_width, card.rotary_pct, card.head_dim) == (True, "all", 1, 12)
    assert (card.qkv_bias, card.o_bias, card.mlp_bias, card.tie_embeddings, card.left_out) == (False,) * 4 + ((),)
    # per layer (D 32, N 4, K 2, H 12, F 48, E 4): q 32x48, k and v 32x24, o 48x32; router 4x32, experts
    # 4 x (gate and up 2 x 48x32 + down 48x32); norms 2 x 32 and q/k norms of 48 and 24
    assert count(card, 1, 8).params_by_group == {"embedding": 2048, "attention": 4 * 4608, "mlp": 4 * (128 + 4 * 4608),
                                                 "norms": 4 * 136 + 32, "unembedding": 2048}


def test_minimax_m2_rotary_share_in_transformers_order():
    assert _convert(_minimax(rotary_dim=6)).rotary_pct == Fraction(1, 2)           # rotary_dim / head_dim
    assert _convert(_minimax(rotary_dim=6, partial_rotary_factor=0.25)).rotary_pct == Fraction(1, 4)
    nested = {"rope_type": "default", "rope_theta": 5e6, "partial_rotary_factor": 0.75}
    assert _convert(_minimax(rotary_dim=6, partial_rotary_factor=0.25, rope_parameters=nested)).rotary_pct == \
        Fraction(3, 4)


def test_minimax_m2_published_switches_and_mtp():
    card = _convert(_minimax(num_experts=4, num_local_experts=None, use_qk_norm=True, qk_norm_type="per_layer",
                             attn_type_list=[1] * 4, shared_intermediate_size=0, scoring_func="sigmoid",
                             use_routing_bias=True, use_mtp=True, num_mtp_modules=3, mtp_transformer_layers=1,
                             router_aux_loss_coef=0.001, output_router_logits=False, router_jitter_noise=0.0))
    assert card.n_experts == 4
    assert card.left_out == ("multi-token-prediction modules (num_mtp_modules 3, mtp_transformer_layers 1) not "
                             "counted: transformers does not build them",)
    assert _convert(_minimax(use_mtp=False, num_mtp_modules=3)).left_out == ()


@pytest.mark.parametrize("change, words", [
    ({"head_dim": None}, ["'head_dim' is missing"]),                 # transformers: MiniMax-M2's 128
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),
    ({"num_key_value_heads": "null"}, ["'num_key_value_heads'", "null"]),
    ({"num_local_experts": None}, ["missing key 'num_local_experts'"]),
    ({"num_experts": 6}, ["'num_local_experts'", "'num_experts'", "disagree"]),
    ({"rotary_dim": 16}, ["'rotary_dim'", "at most 'head_dim'"]),
    ({"partial_rotary_factor": 0}, ["'partial_rotary_factor'", "(0, 1]"]),
    ({"use_qk_norm": False}, ["'use_qk_norm'", "always builds"]),
    ({"qk_norm_type": "per_head"}, ["'qk_norm_type'", "'per_layer'"]),
    ({"attn_type_list": [1, 0, 1, 1]}, ["'attn_type_list'", "lightning"]),
    ({"attn_type_list": [1, 1]}, ["'attn_type_list'", "4 entries"]),
    ({"shared_intermediate_size": 128}, ["'shared_intermediate_size'", "no shared expert"]),
    ({"use_mtp": "yes"}, ["'use_mtp'", "true or false"]),
    ({"attention_bias": True}, ["unknown key 'attention_bias'"]),
    ({"hidden_act": "gelu_new_plain"}, ["'hidden_act'", "gated"]),
])
def test_minimax_m2_refusals(change, words):
    _refused(_minimax(**change), *words)


def test_minimax_m2_as_published_counts_as_its_card_says():
    """Its total is transformers' own (tests/validate/test_hf_params.py builds it on the meta device); the
    model card says "230B total parameters with 10B active" (active: the embedding table, a lookup, left out)."""
    raw = {k: v for k, v in SHAPES["MiniMax-M2"].items() if k != "_source"}
    card = model_from_hf_config(raw, "MiniMax-M2/config.json")
    c = count(card, 1, 4096)
    assert c.params_total == 228_689_748_992 and round(c.params_total / 1e10) == 23
    assert round((c.params_active - c.params_by_group["embedding"]) / 1e9) == 10
    assert (card.rotary_pct, card.qk_norm_width) == (Fraction(1, 2), "all")
    assert [note.split(":")[0] for note in card.left_out] == ["auto_map", "quantization_config",
                                                              "multi-token-prediction modules (num_mtp_modules 3, "
                                                              "mtp_transformer_layers 1) not counted"]


# ----------------------------------------------------------------------------- Qwen3-VL, Qwen3-VL-MoE

VLM_SHAPES = json.loads((Path(__file__).resolve().parent / "data" / "published_vlm_shapes.json").read_text())


def _qwen3_vl(moe: bool, top=None, **text) -> dict:
    inner = {"model_type": "qwen3_vl_moe_text" if moe else "qwen3_vl_text", "num_hidden_layers": 4, "hidden_size": 32,
             "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12,
             "vocab_size": 64, **({"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16}
                                  if moe else {})}
    inner.update(text)
    raw = {"architectures": ["Qwen3VLMoeForConditionalGeneration" if moe else "Qwen3VLForConditionalGeneration"],
           "model_type": "qwen3_vl_moe" if moe else "qwen3_vl", "vision_config": {"depth": 1},
           "text_config": {k: (None if v == "null" else v) for k, v in inner.items() if v is not None}}
    raw.update(top or {})
    return raw


def test_qwen3_vl_reads_its_language_model_as_qwen3():
    card = _convert(_qwen3_vl(False, attention_bias=True))
    assert (card.architecture, card.qk_norm, card.qkv_bias, card.o_bias, card.head_dim, card.tie_embeddings) == \
        ("qwen3", True, True, True, 12, False)
    assert card.left_out == ("vision tower and multimodal projector (vision_config) not counted: only the language "
                             "model of Qwen3VLForConditionalGeneration is read",)
    assert _convert(_qwen3_vl(False, num_key_value_heads="null")).n_kv_heads == 4      # null: N (absent: 32)
    assert _convert(_qwen3_vl(False, {"tie_word_embeddings": True})).tie_embeddings


def test_qwen3_vl_moe_reads_its_language_model_as_qwen3_moe():
    card = _convert(_qwen3_vl(True, mlp_only_layers=[0], decoder_sparse_step=1, norm_topk_prob=True))
    assert (card.architecture, card.n_experts, card.d_ff_expert, card.layers) == \
        ("qwen3_moe", 4, 16, (("dense", 1), ("moe", 3)))
    assert _convert(_qwen3_vl(True, head_dim=None)).head_dim == 8                        # absent: D // N
    assert _convert(_qwen3_vl(True, head_dim="null")).head_dim == 8
    aliased = _convert(_qwen3_vl(True, num_experts=None, num_local_experts=4))
    assert aliased.n_experts == 4
    # its text class ties by default; the wrapper's 5.x default (untied) differs, which the card names
    assert _convert(_qwen3_vl(True)).tie_embeddings
    assert any("tie_word_embeddings" in note for note in _convert(_qwen3_vl(True)).left_out)


def test_qwen3_vl_30b_a3b_counts_as_its_card_says():
    """30.5B in total and 3.3B activated, as Qwen3-30B-A3B's card says of the language model (3.35B, cut to a
    tenth); the total is transformers' own (tests/validate/test_hf_more_moe_flops.py builds the wrapper on
    the meta device)."""
    raw = {k: v for k, v in VLM_SHAPES["Qwen3-VL-30B-A3B-Instruct"].items() if k != "_source"}
    c = count(model_from_hf_config(raw, "Qwen3-VL-30B-A3B/config.json"), 1, 4096)
    assert c.params_total == 30_532_122_624
    assert (round(c.params_total / 1e9, 1), c.params_active // 10**8) == (30.5, 33)


@pytest.mark.parametrize("moe, change, words", [
    (False, {"head_dim": None}, ["'text_config.head_dim' is missing"]),           # transformers: 128
    (False, {"num_key_value_heads": None}, ["'text_config.num_key_value_heads' is missing"]),   # 32
    (False, {"sliding_window": 8}, ["'text_config.sliding_window' is 8", "null"]),  # its cache would slide
    (True, {"sliding_window": 8}, ["'text_config.sliding_window' is 8", "null"]),   # (its attention does not)
    (False, {"use_sliding_window": True}, ["'text_config.use_sliding_window'", "false"]),
    (False, {"model_type": "qwen3"}, ["'text_config.model_type'", "'qwen3_vl_text'"]),
    (True, {"num_experts": None}, ["missing key 'text_config.num_experts'"]),
    (True, {"moe_intermediate_size": None}, ["'text_config.moe_intermediate_size'"]),
    (True, {"mlp_only_layers": [7]}, ["'text_config.mlp_only_layers'", "0 to 3"]),
    (True, {"num_local_experts": 6}, ["disagree"]),
])
def test_qwen3_vl_refusals(moe, change, words):
    _refused(_qwen3_vl(moe, **change), *words)


# ----------------------------------------------------------------------------- dots.llm1


def _dots1(**keys) -> dict:
    return _small("Dots1ForCausalLM", "dots1", **{"n_routed_experts": 4, "num_experts_per_tok": 2,
                                                   "moe_intermediate_size": 16, "n_shared_experts": 2,
                                                   "first_k_dense_replace": 1, "sliding_window": "null", **keys})


def test_dots1_reads_first_dense_layers_shared_experts_and_qwen3_attention():
    card = _convert(_dots1(attention_bias=True, n_group=1, topk_group=1, routed_scaling_factor=2.5))
    assert (card.architecture, card.layers, card.d_ff, card.d_ff_expert, card.d_ff_shared) == \
        ("dots1", (("dense", 1), ("moe", 3)), 48, 16, 32)
    assert (card.qk_norm, card.qk_norm_width, card.qkv_bias, card.o_bias, card.head_dim, card.sliding_window) == \
        (True, "head", True, True, 8, 0)
    # MoE layer (D 32, E 4, width 16, shared 2 x 16): router 4x32, experts 4 x 3 x 16x32, shared 3 x 32x32;
    # the dense layer 3 x 32x48
    assert count(card, 1, 8).params_by_group["mlp"] == 3 * (128 + 4 * 1536 + 3072) + 4608
    assert _convert(_dots1(num_key_value_heads="null")).n_kv_heads == 4               # null: N
    assert _convert(_dots1(head_dim=12)).head_dim == 12                               # read when given


def test_dots1_sliding_layers_from_max_window_layers_or_layer_types():
    card = _convert(_dots1(sliding_window=6, max_window_layers=2))
    assert (card.sliding_window, [card.blocks[name].attention for name, k in card.layers for _ in range(k)]) == \
        (6, ["global", "global", "sliding", "sliding"])
    none = _convert(_dots1(sliding_window=6, max_window_layers=4))
    assert none.sliding_window == 0
    typed = _convert(_dots1(sliding_window=6, layer_types=["sliding_attention"] + ["full_attention"] * 3))
    assert [typed.blocks[name].attention for name, k in typed.layers for _ in range(k)] == ["sliding"] + ["global"] * 3


@pytest.mark.parametrize("change, words", [
    ({"sliding_window": None, "max_window_layers": None}, ["'max_window_layers'", "62"]),    # the window: 4096
    ({"sliding_window": 6}, ["missing key 'max_window_layers'"]),
    ({"sliding_window": "null", "layer_types": ["sliding_attention"] * 4}, ["'sliding_window' is null"]),
    ({"n_shared_experts": None}, ["missing key 'n_shared_experts'"]),
    ({"n_routed_experts": None}, ["missing key 'n_routed_experts'"]),
    ({"num_local_experts": 6}, ["disagree"]),
    ({"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),          # transformers: 32
    ({"head_dim": "null"}, ["'head_dim' is null"]),
    ({"first_k_dense_replace": -1}, ["'first_k_dense_replace'", ">= 0"]),
    ({"moe_layer_freq": 1}, ["unknown key 'moe_layer_freq'"]),
])
def test_dots1_refusals(change, words):
    _refused(_dots1(**change), *words)


def test_dots1_all_dense_needs_no_shared_width():
    card = _convert(_dots1(first_k_dense_replace=4, n_shared_experts=None))
    assert (card.n_experts, card.d_ff_shared, card.layers) == (1, 0, (("layer", 4),))


# ----------------------------------------------------------------------------- ERNIE 4.5 (MoE and dense)


def _ernie(**keys) -> dict:
    return _small("Ernie4_5_MoeForCausalLM", "ernie4_5_moe", **{"moe_num_experts": 4, "moe_k": 2,
                                                                 "moe_intermediate_size": 16,
                                                                 "moe_num_shared_experts": 1,
                                                                 "moe_layer_start_index": 1, **keys})


def test_ernie4_5_moe_reads_its_moe_layers_shared_expert_router_bias_and_use_bias():
    card = _convert(_ernie(use_bias=True, moe_norm_min=1e-12, router_aux_loss_coef=0.001))
    assert (card.architecture, card.layers, card.n_experts, card.experts_per_token, card.d_ff_shared) == \
        ("ernie4_5_moe", (("dense", 1), ("moe", 3)), 4, 2, 16)
    assert (card.router_bias, card.tie_embeddings, card.qkv_bias, card.o_bias, card.mlp_bias, card.head_bias) == \
        (True,) * 6
    groups = count(card, 1, 8).params_by_group
    # MoE layer: router 4x32 and its correction bias of 4; experts 4 x 3 x 16x32; the shared expert 3 x 16x32
    # with biases 16 + 16 + 32; the dense layer 3 x 32x48 with biases 48 + 48 + 32; a tied head keeps its bias
    assert groups["mlp"] == 3 * (128 + 4 + 4 * 1536 + 1536 + 64) + 4608 + 128
    assert groups["unembedding"] == 64
    plain = _convert(_ernie(moe_layer_interval=2, moe_layer_end_index=2, num_experts=4, moe_num_experts=None,
                            num_experts_per_tok=2, moe_k=None, moe_num_shared_experts=0))
    assert (plain.layers, plain.d_ff_shared, plain.head_bias, plain.n_experts) == \
        ((("dense", 1), ("moe", 1), ("dense", 2)), 0, False, 4)
    assert _convert(_ernie(head_dim=12)).head_dim == 12


def test_ernie4_5_dense_reads_use_bias_but_no_head_bias():
    card = _convert(_small("Ernie4_5ForCausalLM", "ernie4_5", head_dim=12, use_bias=True))
    assert (card.architecture, card.n_experts, card.head_dim, card.qkv_bias, card.mlp_bias, card.head_bias,
            card.tie_embeddings) == ("ernie4_5", 1, 12, True, True, False, True)
    nulls = _convert(_small("Ernie4_5ForCausalLM", "ernie4_5", head_dim="null", num_key_value_heads="null"))
    assert (nulls.head_dim, nulls.n_kv_heads) == (8, 4)                  # its __post_init__: D // N and N


@pytest.mark.parametrize("hf_class, change, words", [
    ("moe", {"moe_layer_start_index": None}, ["missing key 'moe_layer_start_index'", "ERNIE-4.5-21B"]),
    ("moe", {"moe_num_shared_experts": None}, ["missing key 'moe_num_shared_experts'"]),
    ("moe", {"moe_k": None}, ["missing key 'moe_k'"]),
    ("moe", {"num_experts_per_tok": 3}, ["'moe_k'", "'num_experts_per_tok'", "disagree"]),
    ("moe", {"num_experts": 6}, ["'moe_num_experts'", "'num_experts'", "disagree"]),
    ("moe", {"moe_layer_end_index": -2}, ["'moe_layer_end_index'", ">= 0"]),
    ("moe", {"num_key_value_heads": "null"}, ["'num_key_value_heads' is null"]),      # 4; null fails
    ("moe", {"use_bias": "yes"}, ["'use_bias'", "true or false"]),
    ("moe", {"moe_capacity": [64, 64, 64]}, ["unknown key 'moe_capacity'"]),
    ("dense", {"head_dim": None}, ["'head_dim' is missing"]),                             # 128
    ("dense", {"num_key_value_heads": None}, ["'num_key_value_heads' is missing"]),       # 2
    ("dense", {"moe_num_experts": 4}, ["unknown key 'moe_num_experts'"]),
])
def test_ernie4_5_refusals(hf_class, change, words):
    raw = _ernie(**change) if hf_class == "moe" else _small("Ernie4_5ForCausalLM", "ernie4_5", **{"head_dim": 8,
                                                                                                 **change})
    _refused(raw, *words)


def test_a_card_router_bias_needs_experts():
    from symroof.errors import CardError
    from symroof.io.cards import model_from_dict

    card = {"name": "m", "architecture": "ernie4_5_moe", "source": "test", "n_layers": 2, "d_model": 32, "d_ff": 48,
            "n_heads": 4, "n_kv_heads": 2, "head_dim": 8, "vocab": 64, "tie_embeddings": False, "router_bias": True}
    with pytest.raises(CardError, match="'router_bias' need experts"):
        model_from_dict(card, "m.yaml")
    routed = model_from_dict({**card, "n_experts": 4, "experts_per_token": 2}, "m.yaml")
    plain = model_from_dict({**card, "n_experts": 4, "experts_per_token": 2, "router_bias": False}, "m.yaml")
    assert count(routed, 1, 8).params_total - count(plain, 1, 8).params_total == 2 * 4      # E a layer
    assert count(routed, 1, 8).flops_forward == count(plain, 1, 8).flops_forward          # no matmul
