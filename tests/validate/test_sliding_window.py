"""Sliding-window attention: the causal count against the pairs transformers' own mask allows.

transformers decides which keys a query of a sliding layer sees with
``masking_utils.sliding_window_causal_mask_function(w)`` (``q - w < kv <= q``). Summing that
mask over a T x T grid is an independent count of the useful (query, key) pairs; symroof's
causal attention core for a sliding layer must be exactly 2 x B x heads x head_dim x that count
for scores (and the same for attention x V), for windows shorter than T. A window at least as
long as the context clamps: the layer counts exactly as a global one. ``full`` counts T x T,
window or not, as eager attention computes (checked against FlopCounterMode in
test_blocks_vs_transformers.py).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: install the 'validate' extra")
pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate


def _mistral(window):
    raw = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "num_hidden_layers": 2,
           "hidden_size": 32, "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
           "head_dim": 8, "vocab_size": 64, "sliding_window": window}
    return model_from_hf_config(raw, "sliding/config.json")


def _allowed_pairs(window: int, seq: int) -> int:
    from transformers.masking_utils import sliding_window_causal_mask_function

    allowed = sliding_window_causal_mask_function(window)
    q, kv = torch.arange(seq)[:, None], torch.arange(seq)[None, :]
    return int(allowed(torch.tensor(0), torch.tensor(0), q, kv).sum())


def _core(card, seq, attention):
    c = count(card, batch=3, seq=seq, attention=attention)
    return sum(c.flops_by_module[f"layer/attn/{op}"]["forward"] for op in ("scores", "av"))


@pytest.mark.parametrize("window, seq", [(1, 7), (3, 10), (5, 6), (16, 40), (31, 32)])
def test_causal_core_counts_the_pairs_the_mask_allows(window, seq):
    card = _mistral(window)
    # per (query, key) pair and layer: scores and attn·V, each 2 FLOPs x B (3) x query heads x head_dim
    per_pair = card.n_layers * 2 * (2 * 3 * card.n_heads * card.head_dim)
    assert _core(card, seq, "causal") == per_pair * _allowed_pairs(window, seq)
    assert _core(card, seq, "full") == per_pair * seq * seq


@pytest.mark.parametrize("window, seq", [(8, 8), (9, 8), (4096, 100)])
def test_a_window_covering_the_context_counts_as_global(window, seq):
    sliding, plain = _mistral(window), _mistral(None)
    for attention in ("causal", "full"):
        assert count(sliding, batch=2, seq=seq, attention=attention).flops_forward == \
            count(plain, batch=2, seq=seq, attention=attention).flops_forward
    assert "count as global" in count(sliding, batch=2, seq=seq).notes[0]


def test_the_output_states_both_conventions():
    note = count(_mistral(4), batch=1, seq=10).notes[0]
    assert "2 of 2 layers slide (window w = 4 keys)" in note
    assert f"causal counts the {_allowed_pairs(4, 10)} (query, key) pairs" in note and "T² = 100" in note


@pytest.mark.parametrize("hf_class, model_type", [("MistralForCausalLM", "mistral"), ("MixtralForCausalLM", "mixtral"),
                                                   ("Starcoder2ForCausalLM", "starcoder2")])
def test_an_absent_window_is_read_as_transformers_builds_it(hf_class, model_type):
    """MistralConfig defaults sliding_window to 4096 (Mistral 7B's): transformers slides every layer of a file
    without the key, so symroof requires it (null: none). Mixtral's and StarCoder2's default is None: no window.
    Each layer's attention (and the mask) takes ``config.sliding_window`` (modeling_mistral.py)."""
    from transformers import AutoModelForCausalLM

    from symroof.errors import CardError
    from hfcases import hf_config

    raw = {"architectures": [hf_class], "model_type": model_type, "num_hidden_layers": 2, "hidden_size": 32,
           "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 64,
           **({"num_local_experts": 2, "num_experts_per_tok": 1} if model_type == "mixtral" else {})}
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(raw))
    windows = [model.config.sliding_window] * len(model.model.layers)
    if model_type == "mistral":
        assert windows == [4096, 4096]
        with pytest.raises(CardError, match="missing key 'sliding_window'.*null for no window"):
            model_from_hf_config(dict(raw), "absent/config.json")
    else:
        assert windows == [None, None]
        assert model_from_hf_config(dict(raw), "absent/config.json").sliding_window == 0
    for window, expected in ((None, [None, None]), (6, [6, 6])):       # given: read as transformers reads it
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(hf_config({**raw, "sliding_window": window}))
        card = model_from_hf_config({**raw, "sliding_window": window}, "given/config.json")
        assert [model.config.sliding_window] * len(model.model.layers) == expected
        assert [card.sliding_window if card.blocks[name].attention == "sliding" else None
                for name, n in card.layers for _ in range(n)] == expected
