"""Qwen3-Next's config keys and a card's linear block type: each bad value a one-line CardError."""

import json
from pathlib import Path

import pytest

from symroof.errors import CardError
from symroof.io.cards import model_from_dict
from symroof.io.hf import model_from_hf_config

RAW = json.loads((Path(__file__).resolve().parent / "data/hf/Qwen3-Next-80B-A3B/config.json").read_text())


@pytest.mark.parametrize("change, message", [
    ({"linear_num_key_heads": None}, "missing key 'linear_num_key_heads'"),
    ({"linear_num_value_heads": 24}, "must divide 'linear_num_value_heads'"),
    ({"layer_types": ["linear_attention"] * 47 + ["sliding_attention"]}, "key 'layer_types' must list 48"),
    ({"layer_types": ["full_attention"] * 48}, "disagree"),
    ({"head_dim": None}, "key 'head_dim' is missing"),
    ({"linear_conv_kernel_dim": 0}, "must be an integer >= 1"),
    ({"some_new_key": 1}, "unknown key 'some_new_key'"),
])
def test_bad_qwen3_next_configs_are_refused(change, message):
    raw = {k: v for k, v in {**RAW, **change}.items() if v is not None or k not in change}
    with pytest.raises(CardError, match=message):
        model_from_hf_config(raw, "qwen3_next/config.json")


def test_layer_types_alone_decide_the_layers():
    raw = {k: v for k, v in RAW.items() if k != "full_attention_interval"}
    card = model_from_hf_config({**raw, "layer_types": ["full_attention"] * 48}, "q/config.json")
    assert {t.attention for t in card.blocks.values()} == {"global"} and not card.linear_key_heads


CARD = {"name": "hybrid", "architecture": "qwen3_next", "source": "test", "n_layers": 2, "d_model": 64, "d_ff": 96,
        "n_heads": 4, "n_kv_heads": 2, "head_dim": 16, "vocab": 100, "tie_embeddings": False,
        "block_types": {"lin": {"attention": "linear"}, "full": {}}, "layers": [["lin", 1], ["full", 1]],
        "linear_key_heads": 2, "linear_value_heads": 4, "linear_key_head_dim": 8, "linear_value_head_dim": 8,
        "linear_conv_kernel": 4}


@pytest.mark.parametrize("change, message", [
    ({"linear_conv_kernel": 0}, "key 'linear_conv_kernel' is needed"),
    ({"linear_value_heads": 3}, "must divide 'linear_value_heads'"),
    ({"block_types": {"lin": {}, "full": {}}}, "only read with a block type of attention: linear"),
    ({"sliding_window": 8}, "no block type has attention: sliding"),
])
def test_bad_linear_cards_are_refused(change, message):
    with pytest.raises(CardError, match=message):
        model_from_dict({**CARD, **change}, "hybrid.yaml")
