"""The prefill and decode graphs against PyTorch: FLOPs under ``FlopCounterMode`` and KV-cache bytes.

For random small configs of the six architectures, transformers runs a prefill of T tokens
with ``use_cache=True`` and then one decode step of one token on that cache, with eager
attention (and eager experts). symroof's ``prefill`` graph (T new tokens, S = T) and
``decode`` graph (T = 1, S = the cache length after appending, T_prefill + 1) must count the
same matmul FLOPs exactly: logits for every prefill position (transformers' default
``logits_to_keep=0``), and one query row against all S keys in decode (no causal halving
applies to a single query, so ``attention`` does not matter there). The cache transformers
holds after the prefill (``DynamicCache``: every layer's keys and values) must equal
``derive.kv_cache_bytes`` of the prefill graph with the tensors' element size for ``b_kv``.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: install the 'validate' extra")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, hf_config, random_configs  # noqa: E402
from symroof.core import derive  # noqa: E402
from symroof.core.graph import Structure, build  # noqa: E402
from symroof.core.symbols import B, S, T, b_kv  # noqa: E402
from symroof.io.bind import evaluate, model_values  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

CONFIGS = random_configs(seed=20261129, count=12, small=True)
_SHAPES = random.Random(11)
CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(1, 9)) for raw in CONFIGS]


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    extra = {"experts_implementation": "eager"} if raw["model_type"] == "mixtral" else {}
    return AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager", **extra).eval()


@pytest.mark.parametrize("raw, batch, seq", CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in CASES])
def test_prefill_and_decode_flops_and_cache_bytes(raw, batch, seq):
    from torch.utils.flop_counter import FlopCounterMode

    model = _model(raw)
    ids = torch.randint(0, raw["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with FlopCounterMode(display=False) as prefill:
            out = model(input_ids=ids, use_cache=True)
        cache = out.past_key_values
        cached = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
        width = cache.layers[0].keys.element_size()
        step = ids[:, -1:]
        with FlopCounterMode(display=False) as decode:
            model(input_ids=step, cache=cache, use_cache=True)

    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    structure, values = Structure.of(card), {**model_values(card), B: batch}
    g_prefill = build(structure, "full", phase="prefill")
    g_decode = build(structure, "full", phase="decode")
    assert evaluate(derive.flops(g_prefill), {**values, T: seq}) == prefill.get_total_flops()
    assert evaluate(derive.flops(g_decode), {**values, S: seq + 1}) == decode.get_total_flops()
    assert evaluate(derive.kv_cache_bytes(g_prefill), {**values, T: seq, b_kv: width}) == cached
