"""Every config.json class symroof reads, fed a wrong value in each of its keys: a one-line CardError, never a crash.

The configs are transformers' own: each class's config built with its defaults (``AutoConfig.for_model``), the
file transformers would write. Each scalar key in turn gets a string, 0, -1, a 401-digit integer (a JSON file can
carry one; ``math.isfinite`` raised OverflowError on it in Granite's multipliers, Gemma's soft-caps and Cohere's
logit scale), a fraction, a boolean, null, a list, a mapping and infinity. Whatever symroof makes of it, it must be
a card or a CardError: any other exception is a traceback for the user.
"""

from __future__ import annotations

import json

import pytest

transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from symroof.errors import CardError  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402
from symroof.io.hf_rows import ROWS  # noqa: E402

pytestmark = pytest.mark.validate

BAD = ("big", 0, -1, 10 ** 400, 1.5, True, None, [], {}, float("inf"))
WRITTEN_BY_SAVE = ("transformers_version", "_name_or_path", "id2label", "label2id", "torch_dtype", "dtype")
# Where transformers' defaults are a file symroof refuses (a size left to a reference model's constant, or
# one the model does not build without), the keys that make it one it reads, so that every wrong value
# below reaches the class's readers rather than stopping at the first refusal.
REPAIRS = {
    "DbrxForCausalLM": {"attn_config": {"rope_theta": 10000.0, "clip_qkv": 8.0}},
    "DeepseekV2ForCausalLM": {"num_experts_per_tok": 2},
    "Dots1ForCausalLM": {"n_shared_experts": 1, "n_routed_experts": 8, "num_experts_per_tok": 2},
    "Glm4MoeForCausalLM": {"head_dim": 128},
    "HunYuanMoEV1ForCausalLM": {"head_dim": 128, "num_experts": 8},
    "MinistralForCausalLM": {"head_dim": 128},
    "Qwen2MoeForCausalLM": {"sliding_window": None},
    "NemotronForCausalLM": {"num_key_value_heads": 8},     # None does not build (N // None)
    "HunYuanDenseV1ForCausalLM": {"head_dim": 128},       # None does not build
    "Lfm2MoeForCausalLM": {"layer_types": ["conv", "full_attention"] * 16},     # None does not build
    "Gemma4ForCausalLM": {"hidden_size_per_layer_input": 0},      # per-layer input embeddings: not modelled
}


def _default_config(hf_class: str) -> dict:
    raw = transformers.AutoConfig.for_model(ROWS[hf_class].architecture).to_dict()
    for key in WRITTEN_BY_SAVE:
        raw.pop(key, None)
    for key, value in REPAIRS.get(hf_class, {}).items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return {**raw, "architectures": [hf_class]}


def _read(raw: dict) -> str:
    """'card', 'refused', or the exception that escaped."""
    try:
        model_from_hf_config(json.loads(json.dumps(raw)), "config.json")    # as read from a file
    except CardError as err:
        assert "\n" not in str(err), str(err)
        return "refused"
    except Exception as err:  # noqa: BLE001  (the point of the test: nothing else may escape)
        return repr(err)[:160]
    return "card"


@pytest.mark.parametrize("hf_class", sorted(ROWS))
def test_a_wrong_value_in_any_key_is_refused_or_read_never_a_crash(hf_class):
    base = _default_config(hf_class)
    assert _read(base) == "card"          # the wrong values below reach the readers
    escaped = {}
    tried = 0
    for key, value in base.items():
        if isinstance(value, list) and key != "layer_types":
            continue
        places = [(key, sub) for sub in value] if isinstance(value, dict) else [(key, None)]    # DBRX's nested
        for outer, inner in places:
            for bad in BAD:
                raw = {**base, outer: bad} if inner is None else {**base, outer: {**base[outer], inner: bad}}
                result = _read(raw)
                tried += 1
                if result not in ("card", "refused"):
                    escaped[f"{outer}{'.' + inner if inner else ''}={str(bad)[:12]}"] = result
    assert tried > 50, f"{hf_class}: only {tried} values tried"
    assert not escaped, escaped


def test_the_values_reach_the_readers():
    """The test above must exercise the readers, not stop at a first check: Granite's multipliers are read
    by its layout reader (hf_layouts.granite), and the 401-digit one is refused there, naming the key."""
    raw = {**_default_config("GraniteForCausalLM"), "logits_scaling": 10 ** 400}
    with pytest.raises(CardError, match="key 'logits_scaling' must be a positive number"):
        model_from_hf_config(json.loads(json.dumps(raw)), "config.json")
