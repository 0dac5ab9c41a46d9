"""The head's saved activations against PyTorch: what autograd keeps for the backward of the final
norm, the output projection and the loss of a transformers LlamaForCausalLM, counted by
``torch.autograd.graph.saved_tensors_hooks``.

The hook sees every tensor an autograd node saves, from the final norm's forward on (a forward
pre-hook on ``model.model.norm`` opens the count; the norm, ``lm_head`` and transformers'
``ForCausalLMLoss`` are the last ops of the forward). A tensor saved by two nodes (log_softmax's
output, which nll_loss saves too; a view of it) is one storage, counted once; the weights are
parameters, not activations. float32 throughout (no casts: ``.float()`` and ``.to(float32)`` return
their input), so symroof's head part is read at b_act = 4 bytes.

PyTorch keeps more than symroof's rule, by an exact number, for three reasons:

- transformers' LlamaRMSNorm (5.24, models/llama/modeling_llama.py) computes
  ``weight * (x * rsqrt(mean(x²) + eps))`` as separate ops: the multiply by the weight saves the
  normalised x (B·T·D floats) and the multiply by rsqrt saves the per-token rsqrt (B·T floats),
  beside the input x that symroof's rule counts (a fused kernel keeps x and the B·T rsqrt only:
  NVIDIA Apex's FusedRMSNormAffineFunction, apex/normalization/fused_layer_norm.py, saves input,
  weight and invvar);
- the loss's targets, int64 (B·T·8 bytes): token ids, which symroof does not count (``gather``:
  "token ids only");
- nll_loss's ``total_weight``, one float32 scalar (4 bytes).

The logits themselves are not saved: log_softmax saves its output, B·T·V floats, the same size as
the logits symroof counts for the loss. Tolerance: none; bytes are integers and must be equal.
"""

from __future__ import annotations

import random

import pytest

from hfcases import case_id, flop_counter_torch, hf_config, random_configs
from symroof.io.hf import model_from_hf_config

pytestmark = pytest.mark.validate
torch = flop_counter_torch()

CONFIGS = random_configs(seed=20260611, count=4, small=True, archs=("llama",))
_SHAPES = random.Random(5)
CASES = [(raw, _SHAPES.randint(1, 3), _SHAPES.randint(2, 9)) for raw in CONFIGS]


def torch_head_bytes(raw: dict, batch: int, seq: int) -> int:
    """Bytes of the distinct non-parameter storages autograd saves from the final norm on."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(raw), attn_implementation="eager", dtype=torch.float32)
    model.train()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    counting, saved = [False], {}

    def pack(t):
        storage = t.untyped_storage()
        if counting[0] and storage.data_ptr() not in weights:
            assert t.dtype in (torch.float32, torch.int64), t.dtype
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    model.model.norm.register_forward_pre_hook(lambda module, args: counting.__setitem__(0, True))
    ids = torch.randint(0, raw["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(1))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return sum(saved.values())


def symroof_head_bytes(raw: dict, batch: int, seq: int):
    import sympy as sp

    from symroof.core.graph import Structure, build
    from symroof.core.symbols import B, T, b_act, n_micro
    from symroof.io.bind import model_values
    from symroof.parallel.roofline import memory_per_chip
    from symroof.parallel.sharding import shard

    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    sg = shard(build(Structure.of(card), "causal"), {})
    values = {**model_values(card), B: sp.Integer(batch), T: sp.Integer(seq), b_act: sp.Integer(4),
              n_micro: sp.Integer(1)}        # the batch at once, as the autograd graph holds it
    return memory_per_chip(sg)["head"].xreplace(values)


@pytest.mark.parametrize("raw, batch, seq", CASES, ids=[f"{case_id(r)}-B{b}T{t}" for r, b, t in CASES])
def test_head_bytes_match_autograd_saved_tensors(raw, batch, seq):
    tokens, width, vocab = batch * seq, raw["hidden_size"], raw["vocab_size"]
    ours = symroof_head_bytes(raw, batch, seq)
    assert ours == 4 * tokens * (2 * width + vocab)           # the norm's input, the head's input, the logits
    # PyTorch's extra, explained in the module docstring: the normalised x and the rsqrt of
    # transformers' two-op RMSNorm, the int64 targets, nll_loss's total_weight
    extra = 4 * tokens * width + 4 * tokens + 8 * tokens + 4
    assert torch_head_bytes(raw, batch, seq) == ours + extra
