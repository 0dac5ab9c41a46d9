"""symroof's decode-step terms and cache sizes (solve/inference.py, symroof serve) against transformers.

For random small configs of the six architectures (seeded differently from test_phases.py),
transformers runs a prefill of T tokens with ``use_cache=True`` and then decode steps of one
token on that cache (``cache=``), eager attention, in bfloat16. Checked exactly:

- the decode step's weight-matmul plus attention-core FLOPs (``decode_parts``, the terms of
  ``step_time``) equal ``FlopCounterMode`` on each decode step, with S the cache length after
  appending (S grows by one per step);
- ``kv_bytes_per_token`` × B × S equals the bytes of the ``DynamicCache`` tensors after the
  steps, at the cache's own element size (bf16: 2);
- the ``kv_bytes_per_token`` and ``weight_bytes`` that ``symroof serve`` prints equal the
  cache per token and ``sum(p.numel() * p.element_size())`` of the bf16 model.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: install the 'validate' extra")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, hf_config, random_configs  # noqa: E402
from symroof.core.graph import Structure  # noqa: E402
from symroof.core.symbols import B, S, b_kv, b_param  # noqa: E402
from symroof.io.bind import evaluate, model_values  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402
from symroof.solve import inference as inf  # noqa: E402

pytestmark = pytest.mark.validate

CONFIGS = random_configs(seed=9009, count=12, small=True)
_SHAPES = random.Random(9)
CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(1, 7)) for raw in CONFIGS]
STEPS = 2


def _model(raw):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    extra = {"experts_implementation": "eager"} if raw["model_type"] == "mixtral" else {}
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager", **extra)
    return model.to(torch.bfloat16).eval()


def _cache_bytes(cache) -> tuple[int, int]:
    tensors = [t for layer in cache.layers for t in (layer.keys, layer.values)]
    return sum(t.numel() * t.element_size() for t in tensors), tensors[0].element_size()


@pytest.mark.parametrize("raw, batch, seq", CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in CASES])
def test_decode_terms_and_cache_equal_transformers(raw, batch, seq):
    from torch.utils.flop_counter import FlopCounterMode

    model = _model(raw)
    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    structure = Structure.of(card)
    parts = inf.decode_parts(structure)
    values = {**model_values(card), B: batch}
    ids = torch.randint(0, raw["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
        cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        for step in range(1, STEPS + 1):
            with FlopCounterMode(display=False) as counter:
                out = model(input_ids=token, cache=cache, use_cache=True)
            cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
            length = seq + step
            assert cache.get_seq_length() == length
            assert evaluate(parts["flops_weights"] + parts["flops_core"], {**values, S: length}) \
                == counter.get_total_flops()
    held, width = _cache_bytes(cache)
    assert width == 2
    per_token = evaluate(inf.kv_bytes_per_token(structure), {**values, b_kv: width, S: seq + STEPS})
    assert per_token * batch * (seq + STEPS) == held
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert evaluate(inf.weights_held(structure), {**values, b_param: 2}) == weights
