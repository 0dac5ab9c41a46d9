"""config.json import of the classes with Mamba-2 mixers (hf_layouts_ssm) and a card's mamba block types: what each
reads, requires and refuses, each bad value a one-line CardError.

The exact checks against transformers (parameters, FLOPs, prefill and decode, states) are in
tests/validate/test_ssm.py; here, without torch, what the configs are read as. The weight counts written out
below are those of the modules transformers' code builds (modeling_nemotron_h.py, NemotronHMamba2Mixer).
"""

import json
from fractions import Fraction
from pathlib import Path

import pytest

from symroof.errors import CardError
from symroof.io.bind import count
from symroof.io.cards import model_from_dict
from symroof.io.hf import model_from_hf_config

DATA = Path(__file__).resolve().parent / "data/hf"
NANO = json.loads((DATA / "NVIDIA-Nemotron-Nano-9B-v2/config.json").read_text())
H8B = json.loads((DATA / "Nemotron-H-8B-Base-8K/config.json").read_text())


def _small(**keys):
    raw = {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "vocab_size": 64, "hidden_size": 32,
           "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
           "hybrid_override_pattern": "M-*M", "mamba_num_heads": 4, "mamba_head_dim": 8, "n_groups": 2,
           "ssm_state_size": 16, "conv_kernel": 4}
    raw.update(keys)
    return {k: v for k, v in raw.items() if v != "DROP"}


def test_nemotron_h_layers_are_one_part_each():
    card = model_from_hf_config(_small(), "n/config.json")
    assert card.layers == (("mamba", 1), ("dense", 1), ("global", 1), ("mamba", 1))
    assert {name: (t.attention, t.mlp) for name, t in card.block_types} == \
        {"mamba": ("mamba", "none"), "dense": ("none", "dense"), "global": ("global", "none")}
    assert (card.positions, card.mlp, card.qkv_bias, card.o_bias, card.tie_embeddings) == \
        ("none", "plain", False, False, False)
    # per Mamba layer: in_proj 32 x (2·32 + 2·2·16 + 4) = 4224, conv (32 + 64 channels) x 4 taps + 96 biases,
    # dt_bias, A_log and D 4 each, out_proj 32 x 32; attention q, o 32 x 32, k, v 32 x 16; MLP up and down 32 x 48
    groups = count(card, 1, 8).params_by_group
    assert groups["attention"] == 2 * (4224 + 384 + 96 + 12 + 1024) + 2 * 1024 + 2 * 512
    assert groups["mlp"] == 2 * 32 * 48
    assert groups["norms"] == 4 * 32 + 2 * 32 + 32          # a norm a layer, each Mamba layer's gated norm, norm_f


def test_nemotron_h_moe_layers_route_to_ungated_experts():
    card = model_from_hf_config(_small(hybrid_override_pattern="M-E*", n_routed_experts=4, num_experts_per_tok=2,
                                       moe_intermediate_size=16, moe_shared_expert_intermediate_size=24,
                                       n_shared_experts=1, moe_latent_size=None), "n/config.json")
    assert card.layers == (("mamba", 1), ("dense", 1), ("moe", 1), ("global", 1))
    assert (card.n_experts, card.experts_per_token, card.d_ff_expert, card.d_ff_shared) == (4, 2, 16, 24)
    # the MLP layer: up, down 32 x 48; the MoE layer: router 32 x 4, 4 experts of up and down 32 x 16, the shared
    # expert's up and down 32 x 24 (NemotronHExperts and NemotronHMLP: no gate)
    assert count(card, 1, 8).params_by_group["mlp"] == 2 * 32 * 48 + 32 * 4 + 4 * 2 * 32 * 16 + 2 * 32 * 24


def test_the_original_codes_names_and_a_list_read_the_same():
    listed = _small(hybrid_override_pattern="DROP", layers_block_type=[
        "linear_attention", "mlp", "full_attention", "linear_attention"], mamba_conv_bias=True, mamba_d_conv=4,
        conv_kernel="DROP", mamba_n_groups=2, n_groups="DROP", num_hidden_layers=4)
    assert model_from_hf_config(listed, "n/config.json") == model_from_hf_config(_small(), "n/config.json")
    card = model_from_hf_config(_small(use_conv_bias=False, use_bias=True), "n/config.json")
    assert (card.ssm_conv_bias, card.ssm_in_bias, card.ssm_out_bias) == (False, True, True)


def test_published_files_read_with_their_unbounded_time_step():
    nano, h8b = (model_from_hf_config(dict(raw), "n/config.json") for raw in (NANO, H8B))
    assert (nano.n_layers, nano.ssm_heads, nano.ssm_head_dim, nano.head_dim) == (56, 128, 80, 128)
    assert h8b.head_dim == 128           # attention_head_dim, the original code's name, is transformers' default
    assert any("time_step_limit" in note for note in nano.left_out)
    blocks = [nano.blocks[name].attention for name, n in nano.layers for _ in range(n)]
    assert (blocks.count("mamba"), blocks.count("global"), blocks.count("none")) == (27, 4, 25)


@pytest.mark.parametrize("change, words", [
    ({"hybrid_override_pattern": "M-X"}, "string of M, \\*, - and E"),
    ({"hybrid_override_pattern": "M-E*"}, "missing key 'n_routed_experts'"),
    ({"hybrid_override_pattern": "M-E*", **{k: 4 for k in ("n_routed_experts", "num_experts_per_tok",
                                                         "moe_intermediate_size", "moe_shared_expert_intermediate_size")},
      "moe_latent_size": 16}, "'moe_latent_size' is 16; allowed: null"),
    ({"hybrid_override_pattern": "M-E*", "n_routed_experts": 4, "num_experts_per_tok": 5, "moe_intermediate_size": 8,
      "moe_shared_expert_intermediate_size": 8}, "at most that many per token"),
    ({"n_routed_experts": -1}, "'n_routed_experts' must be an integer >= 0"),
    ({"num_hidden_layers": 5}, "'num_hidden_layers' \\(5\\) disagrees with the 4 layers"),
    ({"hybrid_override_pattern": "DROP"}, "missing key 'layers_block_type'"),
    ({"mamba_num_heads": "DROP"}, "missing key 'mamba_num_heads'"),
    ({"n_groups": 3, "mamba_num_heads": 4}, "'n_groups' \\(3\\) must divide 'mamba_num_heads' \\(4\\)"),
    ({"conv_kernel": 0}, "'conv_kernel' must be an integer >= 1"),
    ({"head_dim": "DROP"}, "missing key 'head_dim'"),
    ({"head_dim": "DROP", "attention_head_dim": 64}, "missing key 'head_dim'"),
    ({"attention_head_dim": 16}, "'head_dim' \\(8\\) and 'attention_head_dim' disagree"),
    ({"num_key_value_heads": "DROP"}, "'num_key_value_heads' is missing"),
    ({"mlp_hidden_act": "swiglu"}, "'mlp_hidden_act' is 'swiglu'"),
    ({"sliding_window": 16}, "no sliding window"),
    ({"use_conv_bias": 1}, "'use_conv_bias' must be true or false"),
    ({"mamba_d_conv": 3}, "'mamba_d_conv' and 'conv_kernel' disagree"),
    ({"some_new_key": 1}, "unknown key 'some_new_key'"),
])
def test_bad_nemotron_h_configs_are_refused(change, words):
    with pytest.raises(CardError, match=words) as err:
        model_from_hf_config(_small(**change), "n/config.json")
    assert "\n" not in str(err.value)


CARD = {"name": "ssm", "architecture": "nemotron_h", "source": "test", "n_layers": 2, "d_model": 32, "d_ff": 48,
        "n_heads": 4, "n_kv_heads": 2, "head_dim": 8, "vocab": 64, "tie_embeddings": False,
        "block_types": {"m": {"attention": "mamba", "mlp": "none"}, "a": {}}, "layers": [["m", 1], ["a", 1]],
        "ssm_heads": 4, "ssm_head_dim": 8, "ssm_state": 16, "ssm_groups": 2, "ssm_conv_kernel": 4}


@pytest.mark.parametrize("change, words", [
    ({"ssm_state": 0}, "key 'ssm_state' is needed"),
    ({"ssm_groups": 3}, "'ssm_groups' \\(3\\) must divide 'ssm_heads' \\(4\\)"),
    ({"block_types": {"m": {}, "a": {}}}, "key 'ssm_heads' is only read with a block type of attention: mamba"),
    ({"block_types": {"m": {"attention": "none", "mlp": "none"}, "a": {}}}, "attention: none and mlp: none"),
    ({"block_types": {"m": {"attention": "ssm"}, "a": {}}}, "allowed: global, sliding"),
    ({"ssm_norm": "yes"}, "'ssm_norm' must be true or false"),
])
def test_bad_mamba_cards_are_refused(change, words):
    with pytest.raises(CardError, match=words):
        model_from_dict({**CARD, **change}, "card.yaml")


def test_a_card_without_mamba_layers_refuses_the_mixers_switches():
    plain = {k: v for k, v in CARD.items() if not k.startswith("ssm_")} | {
        "block_types": {"m": {}, "a": {}}, "ssm_norm": False}
    with pytest.raises(CardError, match="'ssm_norm' are only read"):
        model_from_dict(plain, "card.yaml")


def _falcon(**keys):
    raw = {"architectures": ["FalconH1ForCausalLM"], "model_type": "falcon_h1", "vocab_size": 64, "hidden_size": 32,
           "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "mamba_n_heads": 4, "mamba_d_ssm": 32, "mamba_n_groups": 2, "mamba_d_state": 16, "mamba_d_conv": 4}
    raw.update(keys)
    return {k: v for k, v in raw.items() if v != "DROP"}


def test_falcon_h1_layers_run_attention_and_mamba_side_by_side():
    card = model_from_hf_config(_falcon(), "f/config.json")
    assert [(t.attention, t.mlp) for _, t in card.block_types] == [("hybrid", "dense")]
    assert (card.ssm_head_dim, card.ssm_conv_bias, card.ssm_in_bias, card.ssm_out_bias, card.ssm_norm) == \
        (8, True, False, False, False)          # mamba_d_head "auto": 32 / 4; FalconH1Config's switch defaults
    # per layer: Mamba in_proj 32 x (2·32 + 2·2·16 + 4) = 4224, conv 96 x 4 + 96, dt_bias, A_log, D 4 each,
    # out_proj 32 x 32; attention (head_dim D // N = 8) q, o 32 x 32, k, v 32 x 16; no gated norm (mamba_rms_norm)
    groups = count(card, 1, 8).params_by_group
    assert groups["attention"] == 2 * (4224 + 480 + 12 + 1024 + 2 * 1024 + 2 * 512)
    assert groups["norms"] == 2 * 2 * 32 + 32
    normed = model_from_hf_config(_falcon(mamba_rms_norm=True, head_dim=4), "f/config.json")
    assert count(normed, 1, 8).params_by_group["norms"] == groups["norms"] + 2 * 32
    expanded = model_from_hf_config(_falcon(mamba_d_ssm=None, mamba_expand=2, mamba_d_head=16), "f/config.json")
    assert (expanded.ssm_heads, expanded.ssm_head_dim) == (4, 16)
    named = model_from_hf_config(_falcon(ssm_in_multiplier=0.5), "f/config.json")
    assert any("ssm_in_multiplier" in note for note in named.left_out)


@pytest.mark.parametrize("change, words", [
    ({"mamba_d_head": 6}, "'mamba_d_head' \\(6\\) x 'mamba_n_heads' \\(4\\) must be the Mamba width d_inner \\(32"),
    ({"mamba_n_heads": 5, "mamba_n_groups": 1}, "'mamba_n_heads' \\(5\\) must divide the Mamba width"),
    ({"mamba_d_ssm": None}, "missing key 'mamba_expand'"),
    ({"mamba_d_ssm": "DROP"}, "missing key 'mamba_d_ssm'"),
    ({"mamba_n_groups": "DROP"}, "missing key 'mamba_n_groups'"),
    ({"mamba_n_groups": 3, "mamba_n_heads": 4}, "'mamba_n_groups' \\(3\\) must divide"),
    ({"mamba_rms_norm": "no"}, "'mamba_rms_norm' must be true or false"),
    ({"num_key_value_heads": "DROP"}, "'num_key_value_heads' is missing"),
    ({"layer_types": ["hybrid", "hybrid"]}, "per-layer attention types"),
])
def test_bad_falcon_h1_configs_are_refused(change, words):
    with pytest.raises(CardError, match=words) as err:
        model_from_hf_config(_falcon(**change), "f/config.json")
    assert "\n" not in str(err.value)


def _expanded(granite=False, **keys):
    raw = {"architectures": ["GraniteMoeHybridForCausalLM" if granite else "BambaForCausalLM"],
           "model_type": "granitemoehybrid" if granite else "bamba", "vocab_size": 64, "hidden_size": 32,
           "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
           "mamba_n_heads": 4, "mamba_expand": 2, "mamba_n_groups": 2, "mamba_d_state": 16, "mamba_d_conv": 4}
    raw.update({"layer_types": ["mamba", "attention", "mamba"], "shared_intermediate_size": 24,
                "num_local_experts": 0} if granite else {"attn_layer_indices": [1]})
    raw.update(keys)
    return {k: v for k, v in raw.items() if v != "DROP"}


def test_bamba_reads_its_attention_indices_and_half_rope():
    card = model_from_hf_config(_expanded(), "b/config.json")
    assert card.layers == (("mamba", 1), ("global", 1), ("mamba", 1))
    assert (card.rotary_pct, card.ssm_head_dim, card.ssm_norm, card.mlp) == (Fraction(1, 2), 16, True, "gated")
    # per Mamba layer: in_proj 32 x (2·64 + 2·2·16 + 4) = 6272, conv (64 + 64) x 4 + 128, 12, out_proj 64 x 32
    groups = count(card, 1, 8).params_by_group
    assert groups["attention"] == 2 * (6272 + 640 + 12 + 2048) + 2 * 1024 + 2 * 512
    assert groups["mlp"] == 3 * 3 * 32 * 48


def test_granite_4_reads_a_shared_mlp_and_optional_experts():
    dense = model_from_hf_config(_expanded(True), "g/config.json")
    assert (dense.n_experts, dense.d_ff, dense.positions, dense.fused_gate_up) == (1, 24, "none", True)
    assert count(dense, 1, 8).params_by_group["mlp"] == 3 * 3 * 32 * 24     # input_linear 32 x 48, output_linear
    moe = model_from_hf_config(_expanded(True, num_local_experts=4, num_experts_per_tok=2,
                                         position_embedding_type="rope"), "g/config.json")
    assert (moe.n_experts, moe.experts_per_token, moe.d_ff, moe.d_ff_shared, moe.positions) == (4, 2, 48, 24, "rope")
    # per layer: router 32 x 4, experts 4 x 3 x 32 x 48, the shared MLP 3 x 32 x 24
    assert count(moe, 1, 8).params_by_group["mlp"] == 3 * (128 + 4 * 3 * 32 * 48 + 3 * 32 * 24)
    legacy = model_from_hf_config(_expanded(True, layer_types=["linear_attention", "full_attention", "mamba"]),
                                  "g/config.json")
    assert legacy == dense
    granite = model_from_hf_config(json.loads((DATA / "granite-4.0-h-350m/config.json").read_text()), "g/config.json")
    assert (granite.ssm_heads, granite.ssm_head_dim, granite.tie_embeddings) == (48, 32, True)


@pytest.mark.parametrize("granite, change, words", [
    (False, {"attn_layer_indices": [3]}, "'attn_layer_indices' must list layer indices from 0 to 2"),
    (False, {"mamba_d_head": 8}, "'mamba_d_head' \\(8\\) x 'mamba_n_heads' \\(4\\) must be the Mamba width"),
    (False, {"mamba_expand": "DROP"}, "missing key 'mamba_expand'"),
    (False, {"partial_rotary_factor": 1.0}, "rotates half of each head"),
    (False, {"mamba_n_groups": 3}, "'mamba_n_groups' \\(3\\) must divide"),
    (True, {"layer_types": ["mamba", "moe", "mamba"]}, "'layer_types' must list 3 entries"),
    (True, {"num_local_experts": 1}, "must be 0 \\(no experts\\) or at least 2"),
    (True, {"num_local_experts": 4, "num_experts_per_tok": 5}, "must be at most 'num_local_experts'"),
    (True, {"shared_intermediate_size": "DROP"}, "missing key 'shared_intermediate_size'"),
    (True, {"position_embedding_type": "alibi"}, "'position_embedding_type' is 'alibi'"),
    (True, {"normalization_function": "layernorm"}, "builds RMSNorms"),
    (True, {"mlp_bias": True}, "unknown key 'mlp_bias'"),
])
def test_bad_bamba_and_granite_4_configs_are_refused(granite, change, words):
    with pytest.raises(CardError, match=words) as err:
        model_from_hf_config(_expanded(granite, **change), "x/config.json")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("key, value", [("ssm_in_multiplier", "x"), ("mlp_multipliers", [1.0, None]),
                                        ("embedding_multiplier", True)])
def test_falcon_h1_multipliers_must_be_numbers(key, value):
    with pytest.raises(CardError, match=f"'{key}' must be a number"):
        model_from_hf_config(_falcon(**{key: value}), "f/config.json")


def _mamba2(**keys):
    raw = {"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "vocab_size": 64, "hidden_size": 32,
           "num_hidden_layers": 2, "expand": 2, "num_heads": 4, "head_dim": 16, "n_groups": 2, "state_size": 16,
           "conv_kernel": 4}
    raw.update(keys)
    return {k: v for k, v in raw.items() if v != "DROP"}


def test_mamba2_layers_are_the_mixer_alone():
    card = model_from_hf_config(_mamba2(), "m/config.json")
    assert [(t.attention, t.mlp) for _, t in card.block_types] == [("mamba", "none")]
    assert (card.n_heads, card.head_dim, card.d_ff) == (4, 16, 64)       # the mixer's, read by no layer
    groups = count(card, 1, 8).params_by_group
    assert (groups["attention"], groups["mlp"]) == (2 * (6272 + 640 + 12 + 2048), 0)
    codestral = model_from_hf_config(json.loads((DATA / "Mamba-Codestral-7B-v0.1/config.json").read_text()), "c.json")
    assert count(codestral, 1, 8).params_total == 7_285_403_648      # transformers' count: tests/validate/test_ssm.py


@pytest.mark.parametrize("change, words", [
    ({"head_dim": 8}, "'num_heads' \\(4\\) x 'head_dim' \\(8\\) must be expand x hidden_size \\(64\\)"),
    ({"state_size": "DROP"}, "missing key 'state_size'"),
    ({"rms_norm": False}, "always builds its gated RMSNorm"),
    ({"norm_before_gate": True}, "gates before it norms"),
    ({"num_attention_heads": 4}, "unknown key 'num_attention_heads'"),
    ({"intermediate_size": 64}, "unknown key 'intermediate_size'"),
])
def test_bad_mamba2_configs_are_refused(change, words):
    with pytest.raises(CardError, match=words) as err:
        model_from_hf_config(_mamba2(**change), "m/config.json")
    assert "\n" not in str(err.value)


def _mamba(**keys):
    raw = {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "vocab_size": 64, "hidden_size": 32,
           "num_hidden_layers": 2, "expand": 2, "state_size": 16, "conv_kernel": 4}
    raw.update(keys)
    return {k: v for k, v in raw.items() if v != "DROP"}


def test_mamba_layers_are_the_mamba1_mixer():
    card = model_from_hf_config(_mamba(), "m/config.json")
    assert (card.ssm_heads, card.ssm_head_dim, card.ssm_groups, card.ssm_dt_rank, card.ssm_norm, card.tie_embeddings) \
        == (64, 1, 1, 2, False, True)                      # time_step_rank "auto": ceil(32 / 16); tied by default
    # per layer (modeling_mamba.py MambaMixer): in_proj 32 x 128, conv 64 x 4 + 64, x_proj 64 x (2 + 2·16),
    # dt_proj 2 x 64 + 64, A_log 64 x 16, D 64, out_proj 64 x 32
    assert count(card, 1, 8).params_by_group["attention"] == 2 * (4096 + 320 + 2176 + 192 + 1024 + 64 + 2048)
    assert model_from_hf_config(_mamba(time_step_rank=5, intermediate_size=64), "m/config.json").ssm_dt_rank == 5
    small = model_from_hf_config(json.loads((DATA / "mamba-130m-hf/config.json").read_text()), "m/config.json")
    assert count(small, 1, 8).params_total == 129_135_360      # transformers' count: tests/validate/test_ssm.py


@pytest.mark.parametrize("change, words", [
    ({"intermediate_size": 48}, "'intermediate_size' \\(48\\) must be expand x hidden_size \\(64\\)"),
    ({"time_step_rank": 0}, "'time_step_rank' must be an integer >= 1"),
    ({"num_attention_heads": 4}, "unknown key 'num_attention_heads'"),
    ({"state_size": "DROP"}, "missing key 'state_size'"),
])
def test_bad_mamba_configs_are_refused(change, words):
    with pytest.raises(CardError, match=words) as err:
        model_from_hf_config(_mamba(**change), "m/config.json")
    assert "\n" not in str(err.value)


def test_a_mamba1_card_needs_channels_as_heads():
    one = {**CARD, "ssm_dt_rank": 2, "ssm_norm": False}
    with pytest.raises(CardError, match="needs ssm_head_dim 1 and ssm_groups 1"):
        model_from_dict(one, "card.yaml")
    with pytest.raises(CardError, match="'ssm_dt_rank' is only read"):
        model_from_dict({**CARD, "block_types": {"m": {}, "a": {}}, "ssm_dt_rank": 2,
                         **{k: 0 for k in ("ssm_heads", "ssm_head_dim", "ssm_state", "ssm_groups", "ssm_conv_kernel")}},
                        "card.yaml")


def _jamba(**keys):
    raw = {"architectures": ["JambaForCausalLM"], "model_type": "jamba", "vocab_size": 64, "hidden_size": 32,
           "intermediate_size": 48, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
           "attn_layer_period": 4, "attn_layer_offset": 2, "expert_layer_period": 2, "expert_layer_offset": 1,
           "num_experts": 4, "num_experts_per_tok": 2, "mamba_expand": 2, "mamba_d_state": 16, "mamba_d_conv": 4}
    raw.update(keys)
    return {k: v for k, v in raw.items() if v != "DROP"}


def test_jamba_reads_its_periods_and_the_mamba1_mixer_with_inner_norms():
    card = model_from_hf_config(_jamba(), "j/config.json")
    assert [(card.blocks[name].attention, card.blocks[name].mlp) for name, n in card.layers for _ in range(n)] == \
        [("mamba", "dense"), ("mamba", "moe"), ("global", "dense"), ("mamba", "moe")]
    assert (card.ssm_dt_rank, card.ssm_inner_norms, card.positions, card.n_experts) == (2, True, "none", 4)
    # per Mamba layer: Mamba's mixer (see test_mamba_layers_are_the_mamba1_mixer); the attention layer q, o 32 x 32,
    # k, v 32 x 16; norms: two a layer, the final one, and per Mamba layer dt (2), B and C (16 each)
    groups = count(card, 1, 8).params_by_group
    assert groups["attention"] == 3 * (4096 + 320 + 2176 + 192 + 1024 + 64 + 2048) + 2 * 1024 + 2 * 512
    assert groups["norms"] == 4 * 2 * 32 + 32 + 3 * (2 + 16 + 16)
    assert groups["mlp"] == 2 * 3 * 32 * 48 + 2 * (32 * 4 + 4 * 3 * 32 * 48)
    dense = model_from_hf_config(_jamba(num_experts=1, num_experts_per_tok=1), "j/config.json")
    assert dense.n_experts == 1
    jamba = model_from_hf_config(json.loads((DATA / "Jamba-v0.1/config.json").read_text()), "j/config.json")
    assert count(jamba, 1, 8).params_total == 51_570_323_328        # transformers' count: tests/validate/test_ssm.py


@pytest.mark.parametrize("change, words", [
    ({"attn_layer_offset": 4}, "must be below their periods"),
    ({"expert_layer_period": 0}, "'expert_layer_period' must be an integer >= 1"),
    ({"num_experts_per_tok": 5}, "must be at most 'num_experts' \\(4\\)"),
    ({"attn_layer_period": "DROP"}, "missing key 'attn_layer_period'"),
    ({"mamba_dt_rank": 0}, "'mamba_dt_rank' must be an integer >= 1"),
    ({"attention_bias": True}, "unknown key 'attention_bias'"),
])
def test_bad_jamba_configs_are_refused(change, words):
    with pytest.raises(CardError, match=words) as err:
        model_from_hf_config(_jamba(**change), "j/config.json")
    assert "\n" not in str(err.value)
