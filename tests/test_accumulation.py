"""Gradient accumulation in ``plan``: a mesh without a pipeline takes the fewest microbatches that fit.

LLaMA 3 8B with 1M tokens a step of 8192-token sequences on 8 H100s is NeMo's 8-GPU recipe
(NVIDIA/dgxc-benchmarking@35a9aec llama3.1/README_8b.md: GBS 128, MBS 1, 8 GPUs, 81,222 tokens/s), so
some plan must hold it in 80 GB; before gradient accumulation every mesh was refused (116.5 GB a
chip at the least). Memory is worked out by hand from the model's config (meta-llama/Meta-Llama-3-8B
config.json: 32 layers, hidden 4096, vocabulary 128,256; 8,030,261,248 parameters).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from symroof.search.accumulation import fewest

ROOT = Path(__file__).resolve().parent.parent
PARAMS, D, LAYERS, VOCAB = 8_030_261_248, 4096, 32, 128_256


@pytest.mark.parametrize("fixed, act, sequences, micro, memory", [
    (60, 40, 16, 2, 80),        # 40 / (80 - 60) = 2 exactly: 2 microbatches, full to the byte
    (60, 50, 16, 4, 72.5),      # 2.5 needed: the next divisor of 16 is 4
    (60, 50, 6, 3, 76 + 2 / 3),     # ... of 6 it is 3
    (10, 40, 16, 1, 50),        # fits whole: no accumulation
    (70, 400, 16, 16, 95),      # 40 needed, at most 16 (one sequence a microbatch): still too big
    (90, 10, 16, 16, 90.625),   # the weights alone exceed the chip: the most, still too big
])
def test_the_fewest_microbatches_dividing_the_sequences_that_fit(fixed, act, sequences, micro, memory):
    got_micro, got_memory = fewest([fixed], [act], [sequences], 80.0)
    assert (got_micro[0], got_memory[0]) == (micro, pytest.approx(memory, rel=1e-12))


def test_nemos_8gpu_batch_of_llama3_8b_is_planned_with_two_microbatches():
    done = subprocess.run([sys.executable, "-m", "symroof", "plan", "llama3-8b", "--chip", "h100-sxm", "--chips",
                           "8", "--batch-tokens", "1048576", "--seq", "8192", "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["mesh"] == {"fsdp": 8} and plan["n_micro"] == 2
    per_microbatch = 128 // 8 // 2         # sequences a chip holds activations for at once
    tokens = per_microbatch * 8192
    by_hand = (PARAMS * (2 + 2 + 8) / 8            # bf16 weights and gradients, Adam's fp32 moments: ZeRO-3 over 8
               + 2 * LAYERS * tokens * D * 2       # the run default: 2 saved [B, T, D] arrays a layer, bf16
               + tokens * VOCAB * 2                # the logits
               + 2 * tokens * D * 2)               # the embedding's output and the final norm's
    assert plan["memory_per_chip_bytes"] == pytest.approx(by_hand, rel=1e-9)
    assert by_hand <= 80e9 < by_hand + 2 * LAYERS * tokens * D * 2 + tokens * (VOCAB + 2 * D) * 2   # 1 does not fit
    assert "2 microbatches a step (gradient accumulation)" in plan["explanation"][0]


def test_a_count_is_taken_only_where_its_memory_fits():
    """Activations a hair over twice the room (40 (1 + 1e-13) bytes over 20): 2 microbatches hold
    80.000000000002 of 80, so the fewest that fit is 4 (60 + 10.000000000001); a count chosen by the
    need rounded down took 2 and the row was then refused as over HBM."""
    micro, memory = fewest([60.0], [40.0 * (1 + 1e-13)], [16], 80.0)
    assert micro[0] == 4 and memory[0] <= 80.0


def test_a_fractional_share_of_sequences_is_not_split():
    """2.5 sequences a replica (continuous degrees) make no whole microbatches: 1, over HBM, not 2
    microbatches of 1.25 sequences (the divisors of 2)."""
    micro, memory = fewest([60.0], [40.0], [2.5], 80.0)
    assert (micro[0], memory[0]) == (1, 100.0)


def test_the_books_forward_layer_accumulates_no_gradients():
    """The book's layer (``--book-layer``: the forward pass, continuous degrees) has no gradients to
    accumulate: on v5p chips of 1 GB it is refused as needing more HBM, as it was before gradient
    accumulation, not planned as 3 microbatches of 17.07 sequences (1024 over fsdp 20, 51.2 a replica)."""
    done = subprocess.run([sys.executable, "-m", "symroof", "plan", "llama3-70b", "--book-layer", "--chip", "tpu-v5p",
                           "--chips", "8960", "--batch-tokens", "4194304", "--seq", "4096", "--set", "hbm_bytes=1e9"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "more HBM than the chip has" in done.stderr, done.stdout


def test_an_fsdp_axis_gathers_the_weights_once_per_microbatch():
    """The weights stay sharded between microbatches (the memory above counts them so), so each of the
    2 microbatches gathers them for its forward and its backward and reduce-scatters its gradients, at
    the book's AllGather rule V / W_ici over NVLink 4 (450 GB/s a direction: NVIDIA's 900 GB/s counts
    both). The embedding's backward reads no weight: its table is gathered once a microbatch, not twice.
    Before the plan counted them per microbatch it charged half of this, 0.105 s."""
    done = subprocess.run([sys.executable, "-m", "symroof", "plan", "llama3-8b", "--chip", "h100-sxm", "--chips",
                           "8", "--batch-tokens", "1048576", "--seq", "8192", "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["n_micro"] == 2
    table = VOCAB * D
    per_microbatch = (2 * PARAMS - table + PARAMS) * 2 / 450e9     # bf16 gathers (fwd, bwd) + bf16 scatter
    assert plan["t_ici_s"] == pytest.approx(2 * per_microbatch, rel=1e-9)
