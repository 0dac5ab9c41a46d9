"""Recompute FLOPs against PyTorch: transformers' gradient checkpointing under ``FlopCounterMode``.

transformers checkpoints each decoder layer with ``torch.utils.checkpoint``. The two kinds replay
different work, and symroof's two block policies must count each exactly:

- reentrant (``use_reentrant=True``; Megatron-LM's own checkpoint works the same way) calls the
  layer again, so the backward replays its whole forward: ``recompute: full``;
- non-reentrant (``use_reentrant=False``, the kind llm-foundry's FSDP runs) stops the replay as
  soon as every tensor the backward reads has been made again (torch 2.1's checkpoint.py:
  ``_enable_checkpoint_early_stop = True``; the docs' ``set_checkpoint_early_stop``). The ops
  after the last saved tensor are never replayed. In a LLaMA layer that is the MLP's down
  projection, whose output only the residual add reads, and the add's backward reads nothing.
  That is the empty named list, ``recompute: []``: keep the layer's input and replay what
  remakes the tensors the backward reads.

The replayed FLOPs are the checkpointed run's total minus the same step without checkpointing;
symroof's ``flops_recompute`` must equal them exactly.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import case_id, hf_config, random_configs  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402
from symroof.io.run import RunSettings  # noqa: E402

pytestmark = pytest.mark.validate

if not torch.__version__.startswith("2.13."):
    pytest.skip(f"FlopCounterMode's op table is pinned by the 'validate' extra (torch==2.13.0); found "
                f"{torch.__version__}", allow_module_level=True)

CONFIGS = random_configs(seed=20261129, count=6, small=True, archs=("llama", "mistral", "qwen2", "qwen3"))
_SHAPES = random.Random(11)
CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(2, 10)) for raw in CONFIGS]


def total_flops(raw: dict, batch: int, seq: int, reentrant: bool | None) -> int:
    """FLOPs of one forward and backward (``reentrant``: checkpoint each layer that way; None: no checkpoint)."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager")
    model.train()                      # transformers checkpoints in training mode only
    if reentrant is not None:
        model.activation_checkpointing_enable({"use_reentrant": reentrant})
    ids = torch.randint(0, raw["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(1))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=ids).loss.backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("raw, batch, seq", CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in CASES])
def test_replayed_flops_match_torch_checkpoint(raw, batch, seq):
    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    plain = total_flops(raw, batch, seq, None)
    for reentrant, policy in ((True, "full"), (False, ())):
        ours = count(card, batch=batch, seq=seq, attention="full", run=RunSettings(recompute=policy))
        assert ours.flops_forward + ours.flops_backward == plain
        theirs = total_flops(raw, batch, seq, reentrant) - plain
        assert theirs > 0
        assert ours.flops_recompute == theirs, (reentrant, policy)
    # the two differ by the down projection's forward, in every layer
    down = sum(v["forward"] for name, v in count(card, batch=batch, seq=seq, attention="full")
               .flops_by_module.items() if name.endswith("mlp/down"))
    assert total_flops(raw, batch, seq, True) - total_flops(raw, batch, seq, False) == down
