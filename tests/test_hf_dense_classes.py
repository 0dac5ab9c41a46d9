"""config.json import of the dense decoder classes of hf_layouts_dense: defaults, what each reads, requires
and refuses.

The exact checks against transformers (parameters, FLOPs, prefill and decode) are in
tests/validate/test_hf_dense.py; here, without torch, what each class's config is read as. The weight
counts written out below are those of the modules transformers' code builds (D 32, N 4, K 2, H 8, F 48,
V 64, 4 layers unless a test says otherwise).
"""

import pytest

from symroof.io.bind import count
from test_hf import _convert, _refused   # one config, read and refused the same way
from test_hf_more_classes import _small

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
    full = _convert(_olmo3(layer_types=["full_attention"] * 4, sliding_window="null"))
    assert (full.sliding_window, full.layers) == (0, (("layer", 4),))


@pytest.mark.parametrize("change, words", [
    ({"sliding_window": None}, ["missing key 'sliding_window'"]),       # transformers: 4096, OLMo 3 7B's
    ({"sliding_window": "null"}, ["'sliding_window'"]),                 # its sliding mask needs one
    ({"sliding_window": 0}, ["'sliding_window'", ">= 1"]),
    ({"head_dim": "null"}, ["'head_dim' is null"]),                     # getattr gives None: no width
    ({"layer_types": ["sliding_attention"] * 3}, ["'layer_types'", "4 entries"]),
    ({"layer_types": ["chunked_attention"] * 4}, ["'layer_types'", "'sliding_attention'"]),
    ({"mlp_bias": True}, ["unknown key 'mlp_bias'"]),                   # Olmo3Config has none; its MLP: no bias
    ({"hidden_act": "relu"}, ["'hidden_act'", "gated"]),
])
def test_olmo3_refusals(change, words):
    _refused(_olmo3(**change), *words)
