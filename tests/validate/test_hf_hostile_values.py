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


def _default_config(hf_class: str) -> dict:
    raw = transformers.AutoConfig.for_model(ROWS[hf_class].architecture).to_dict()
    for key in WRITTEN_BY_SAVE:
        raw.pop(key, None)
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
    escaped = {}
    tried = 0
    for key, value in base.items():
        if isinstance(value, (dict, list)) and key != "layer_types":
            continue
        for bad in BAD:
            result = _read({**base, key: bad})
            tried += 1
            if result not in ("card", "refused"):
                escaped[f"{key}={str(bad)[:12]}"] = result
    assert tried > 50, f"{hf_class}: only {tried} values tried"
    assert not escaped, escaped


def test_the_values_reach_the_readers():
    """The test above must exercise the readers, not stop at a first check: Granite's multipliers are read
    by its layout reader (hf_layouts.granite), and the 401-digit one is refused there, naming the key."""
    raw = {**_default_config("GraniteForCausalLM"), "logits_scaling": 10 ** 400}
    with pytest.raises(CardError, match="key 'logits_scaling' must be a positive number"):
        model_from_hf_config(json.loads(json.dumps(raw)), "config.json")
