"""Later config.json readings (hf_keys_recent4) against transformers 5.24: Qwen3-VL's ``sliding_window``, ...

The same comparisons as test_hf_recent3.py (hfcompare: parameters on the meta device per group, FLOPs under
FlopCounterMode, prefill and decode FLOPs and cache bytes; all exact, tolerance 0), and one-line refusals.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcompare import assert_phases_match  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

# ----------------------------------------------------------------------------- Qwen3-VL's sliding_window

_VL = {"qwen3_vl": "Qwen3VLForConditionalGeneration", "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration"}
_DROP = ("transformers_version", "_name_or_path", "id2label", "label2id", "torch_dtype", "dtype")


def _default_wrapper(arch: str) -> dict:
    """The wrapper's config defaults as save_pretrained writes them (Qwen3-VL-MoE's text_config carries
    sliding_window: null)."""
    raw = {**transformers.AutoConfig.for_model(arch).to_dict(), "architectures": [_VL[arch]]}
    for part in (raw, raw["text_config"], raw["vision_config"]):
        for key in _DROP:
            part.pop(key, None)
    return raw


@pytest.mark.parametrize("arch", sorted(_VL))
def test_qwen3_vl_defaults_read_with_their_sliding_window(arch):
    from test_hf_more_moe_flops import _wrapper
    from test_hf_vlm_params import language_model_counts

    raw = _default_wrapper(arch)
    assert (raw["text_config"].get("sliding_window", "absent") is None) == (arch == "qwen3_vl_moe")
    card = model_from_hf_config(dict(raw), "defaults/config.json")
    assert count(card, batch=1, seq=1).params_by_group == language_model_counts(_wrapper(raw))


def _vl_case(seed: int, arch: str, window) -> dict:
    from test_hf_more_moe_flops import wrapped_config

    raw = wrapped_config(random.Random(seed), arch, True)
    raw["text_config"] = {**raw["text_config"], "sliding_window": window}
    return raw


VL_CASES = [(seed, arch) for seed, arch in enumerate(("qwen3_vl_moe", "qwen3_vl_moe", "qwen3_vl"), 20271601)]


@pytest.mark.parametrize("seed, arch", VL_CASES)
def test_qwen3_vl_sliding_window_null_is_read_and_a_value_refused(seed, arch):
    """Null: transformers' logits equal those without the key, and symroof's prefill/decode FLOPs and cache equal
    transformers' (full attention, every key kept). A value (2): its attention still ignores it (the same logits
    over 8 tokens) but its cache keeps only the last window - 1 keys; symroof refuses it in one line."""
    from symroof.errors import CardError
    from test_hf_more_moe_flops import _wrapper

    raw, windowed = _vl_case(seed, arch, None), _vl_case(seed, arch, 2)
    without = {**raw, "text_config": {k: v for k, v in raw["text_config"].items() if k != "sliding_window"}}
    tokens = torch.randint(0, raw["text_config"]["vocab_size"], (1, 8))
    with torch.no_grad():
        logits = [_wrapper(r, meta=False).eval()(input_ids=tokens, use_cache=True) for r in (raw, without, windowed)]
    assert torch.equal(logits[0].logits, logits[1].logits) and torch.equal(logits[0].logits, logits[2].logits)
    assert logits[0].past_key_values.get_seq_length() == 8 and logits[2].past_key_values.layers[0].keys.shape[-2] == 1
    card = model_from_hf_config(dict(raw), "random/config.json")
    assert card.sliding_window == 0 and all(b.attention != "sliding" for b in card.blocks.values())
    assert_phases_match(card, _wrapper(raw, meta=False).eval(), raw["text_config"]["vocab_size"], 2, 6)
    with pytest.raises(CardError, match="'text_config.sliding_window' is 2") as err:
        model_from_hf_config(dict(windowed), "random/config.json")
    assert "\n" not in str(err.value)
