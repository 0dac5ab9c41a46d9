"""Recompute FLOPs against PyTorch: transformers' activation checkpointing under ``FlopCounterMode``.

transformers checkpoints each decoder layer with ``torch.utils.checkpoint``. The two kinds replay
different work:

- reentrant (``use_reentrant=True``; Megatron-LM's own checkpoint works the same way) calls the
  layer again, so the backward replays its whole forward: ``recompute: full``;
- non-reentrant (``use_reentrant=False``, the kind llm-foundry's FSDP runs) stops the replay as
  soon as every tensor the forward saved has been made again, in program order (early stop: on
  by default since torch 2.1, whose checkpoint.py sets ``_enable_checkpoint_early_stop = True``;
  a ``checkpoint`` argument, ``early_stop=True``, in the torch these tests pin). In a sequential
  layer whose last op that saves anything is the MLP's second matrix, that matrix is not
  replayed: its output only the residual add reads, and the add's backward reads nothing. That is
  the empty named list, ``recompute: []``: keep the layer's input and replay what remakes the
  tensors the backward reads (as JAX's rematerialisation does, in any order).

The replayed FLOPs are the checkpointed step's total minus the same step without checkpointing.
Where the program order and the backward's reads part, the two differ, and the tests pin how: with
a parallel residual (GPT-NeoX: the attention and the MLP both read the layer input) PyTorch also
replays the attention's output projection, run before the MLP, which ``[]`` leaves out; with
dropout after the MLP (GPT-2's default ``resid_pdrop``), whose mask is saved last, it replays the
whole layer, as ``full`` does.
"""

from __future__ import annotations

import random

import pytest
import sympy as sp

from hfcases import case_id, flop_counter_torch, hf_config, new_config, random_configs
from symroof.io.bind import count
from symroof.io.hf import model_from_hf_config
from symroof.io.run import RunSettings

pytestmark = pytest.mark.validate
torch = flop_counter_torch()

# LLaMA-style layers and GPT-2's (MPT's layout: LayerNorm, GELU, one MLP matrix each way), the latter
# without dropout, as MPT runs (resid_pdrop and attn_pdrop 0)
NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
CONFIGS = [*random_configs(seed=20261129, count=6, small=True, archs=("llama", "mistral", "qwen2", "qwen3")),
           *({**raw, **NO_DROPOUT} for raw in random_configs(seed=29, count=3, small=True, archs=("gpt2",)))]
_SHAPES = random.Random(11)
CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(2, 10)) for raw in CONFIGS]


def total_flops(raw: dict, batch: int, seq: int, reentrant: bool | None, every: int = 1) -> int:
    """FLOPs of one forward and backward (``reentrant``: checkpoint each layer that way; None: no checkpoint;
    ``every``: only every that many-th layer, the first included, as torchtitan's selective_ac_option does)."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForCausalLM
    from transformers.modeling_layers import GradientCheckpointingLayer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager")
    model.train()                      # transformers checkpoints in training mode only
    if reentrant is not None:
        model.activation_checkpointing_enable({"use_reentrant": reentrant})
        layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
        for i, layer in enumerate(layers):
            layer.gradient_checkpointing = i % every == 0
    ids = torch.randint(0, raw["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(1))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=ids).loss.backward()
    return counter.get_total_flops()


def _ours(raw: dict, batch: int, seq: int, policy=None):
    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    run = RunSettings(recompute=policy) if policy is not None else None
    return count(card, batch=batch, seq=seq, attention="full", run=run)


def _forward(ours, suffix: str) -> int:
    return sum(v["forward"] for name, v in ours.flops_by_module.items() if name.endswith(suffix))


@pytest.mark.parametrize("raw, batch, seq", CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in CASES])
def test_replayed_flops_match_torch_checkpoint(raw, batch, seq):
    plain = total_flops(raw, batch, seq, None)
    replays = {}
    for reentrant, policy in ((True, "full"), (False, ())):
        ours = _ours(raw, batch, seq, policy)
        assert ours.flops_forward + ours.flops_backward == plain
        replays[reentrant] = total_flops(raw, batch, seq, reentrant) - plain
        assert replays[reentrant] > 0
        assert ours.flops_recompute == replays[reentrant], (reentrant, policy)
    # the two kinds differ by the MLP's second matrix's forward, in every layer
    assert replays[True] - replays[False] == _forward(_ours(raw, batch, seq), "mlp/down")


# LLaMA-style layers, three of them (two checkpointed, one keeping everything), and GPT-2's as they are
SHARED = [({**raw, "num_hidden_layers": 3}, b, t) for raw, b, t in CASES[:2]] + \
    [(raw, b, t) for raw, b, t in CASES if raw["model_type"] == "gpt2"][:2]


@pytest.mark.parametrize("raw, batch, seq", SHARED, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in SHARED])
def test_a_share_of_the_layers_replays_that_share(raw, batch, seq):
    """Every other layer checkpointed (torchtitan's selective_ac_option 2; Megatron-LM's
    recompute_num_layers is the same count another way): PyTorch replays exactly what the graph's
    replayed ops cost with their repeats times f_rc = ceil(L / 2) / L (``recompute.apply``'s share,
    a run's ``recompute_layers``), for both kinds of checkpoint."""
    from symroof.core import derive, recompute
    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, T, f_rc
    from symroof.io.bind import evaluate, model_values

    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    share = sp.Rational(-(-card.n_layers // 2), card.n_layers)
    assert share != 1                      # the case has layers that keep everything
    values = {**model_values(card), B: sp.Integer(batch), T: sp.Integer(seq), **RunSettings().values(), f_rc: share}
    g = build(Structure.of(card, seq), "full")
    plain = total_flops(raw, batch, seq, None)
    for reentrant, policy in ((True, "full"), (False, ())):
        ours = evaluate(derive.total(recompute.apply(g, policy, f_rc), "flops", "recompute"), values)
        assert ours == total_flops(raw, batch, seq, reentrant, every=2) - plain, (reentrant, policy)


PARALLEL = [{**raw, "use_parallel_residual": True, "hidden_dropout": 0.0, "attention_dropout": 0.0}
            for raw in (new_config(random.Random(seed), "gpt_neox", True) for seed in (3, 4))]


@pytest.mark.parametrize("raw", PARALLEL, ids=[case_id(r) for r in PARALLEL])
def test_a_parallel_residual_replays_the_output_projection_too(raw):
    """GPT-NeoX with a parallel residual: the reentrant replay is still ``full``, but the
    non-reentrant one is ``[]`` plus each layer's attention output projection (program order)."""
    plain = total_flops(raw, 2, 6, None)
    assert _ours(raw, 2, 6, "full").flops_recompute == total_flops(raw, 2, 6, True) - plain
    dce = _ours(raw, 2, 6, ())
    assert total_flops(raw, 2, 6, False) - plain == dce.flops_recompute + _forward(dce, "attn/o")


DROPOUT = [{**raw, "resid_pdrop": 0.1, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
           for raw in random_configs(seed=31, count=2, small=True, archs=("gpt2",))]


@pytest.mark.parametrize("raw", DROPOUT, ids=[case_id(r) for r in DROPOUT])
def test_dropout_after_the_mlp_makes_the_non_reentrant_replay_whole(raw):
    """GPT-2 with dropout on the residual branches: the mask after the MLP's second matrix is the
    last tensor the forward saves, so PyTorch's non-reentrant replay runs the whole layer, as the
    reentrant one does: ``full``'s count, not ``[]``'s."""
    plain = total_flops(raw, 2, 6, None)
    full = _ours(raw, 2, 6, "full").flops_recompute
    assert total_flops(raw, 2, 6, False) - plain == full == total_flops(raw, 2, 6, True) - plain
    assert _ours(raw, 2, 6, ()).flops_recompute < full
