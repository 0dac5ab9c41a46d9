"""Counts for the shipped cards against independent numbers: Hugging Face's parameter counts,
the book's breakdown, and the seed's counting and memory claims (book-4-6.md sections 1.4, 3, 5).

Tolerances: exact where the reference is exact (HF counts, the crossover lengths); 1% where
the book rounds its inputs (it multiplies 6 by 70e9, not by the exact count); 5% where it
also uses 4e6 for "4M tokens" and we use the same run setting (noted per test).
"""

from fractions import Fraction

import pytest

from symroof import load_chip, load_model

from symroof.core import derive
from symroof.core.graph import Structure, build
from symroof.io.bind import chip_values, count, evaluate, model_values
from symroof.core.symbols import B, C, M_hbm, T, b_act, b_grad, b_opt, b_param, n_ckpt

DAY, YEAR = 86_400, 365 * 86_400


def close(value, reference, rel):
    return abs(float(value) / float(reference) - 1) <= rel


@pytest.mark.parametrize("name, expected", [
    ("llama3-8b", 8_030_261_248),         # Hugging Face num_parameters()
    ("llama3-70b", 70_553_706_496),
    ("llama3.1-405b", 405_853_388_800),
    ("llama2-13b", 13_015_864_320),
])
def test_exact_parameter_counts_match_hugging_face(name, expected):
    assert count(load_model(name)).params_total == expected


def test_book_breakdown_of_llama3_70b():
    groups = count(load_model("llama3-70b")).params_by_group
    assert groups["mlp"] == 56_371_445_760                                   # book: 56.3e9
    assert groups["embedding"] + groups["unembedding"] == 2_101_346_304      # book: 2.1e9
    assert groups["attention"] == 12_079_595_520                            # book: 12e9
    # the book's 70.4e9 is the sum of its rounded parts; the exact count includes the norms
    assert close(sum(groups.values()), 70.4e9, 0.003)


@pytest.fixture(scope="module")
def seed():
    card, chip = load_model("llama3-70b"), load_chip("tpu-v5p")
    g = build(Structure.of(card))
    values = {**model_values(card), **chip_values(chip)}
    per_token = evaluate(derive.training_flops_per_token(g, "6N"), values)
    return card, chip, g, values, per_token


def test_seed_training_flops(seed):
    card, chip, g, values, per_token = seed
    assert close(per_token, 4.2e11, 0.01)                      # "6 * 70e9 = 4.2e11 FLOPs / token"
    total = per_token * 15 * 10**12
    assert close(total, 6.3e24, 0.01)                           # 15T tokens
    one_chip_years = total / values[C] / YEAR
    assert close(one_chip_years, 435, 0.01)                     # "435 years" on one v5p
    pod = 8960                                                  # 16 x 20 x 28, from the chip card
    assert chip.pod_chips == pod
    days = total / (pod * values[C] * Fraction(2, 5)) / DAY
    assert close(days, 44, 0.02)                                # "about 44 days" at 40% MFU


def test_seed_memory_claims(seed):
    card, chip, g, values, _ = seed
    # the book's memory question uses 4e6 tokens, bf16 params, fp32 Adam moments, no gradient
    # buffer, and 4 checkpoints per layer (its answer text says 3; see derivations/)
    run = {B: 4_000_000, T: 1, b_param: 2, b_opt: 8, b_grad: 0, b_act: 2, n_ckpt: 4}
    memory = {k: evaluate(v, {**values, **run}) for k, v in derive.training_memory(g).items()}
    assert close(memory["params"], 140e9, 0.01)
    assert close(memory["optimizer"], 560e9, 0.01)
    assert close(memory["checkpoints"], 20.9e12, 0.01)
    assert close(memory["total"], 21.6e12, 0.01)
    assert close(memory["total"] / values[M_hbm], 225, 0.01)   # chips needed at minimum


@pytest.mark.parametrize("name, t_star", [("llama3-8b", 26_624), ("llama3-70b", 52_224),
                                          ("llama3.1-405b", 97_280)])
def test_attention_mlp_crossover_from_the_graph(name, t_star):
    card = load_model(name)
    expr = derive.attention_crossover(build(Structure.of(card), "full"))
    assert evaluate(expr, model_values(card)) == t_star       # book-4-6.md section 1.4 table


def test_full_attention_flops_formula_for_one_step():
    # PyTorch's count (forward, eager attention) for one layer model: every matmul, full T x T
    card = load_model("llama3-8b")
    got = count(card, batch=2, seq=16, attention="full")
    L, D, F, N, K, H, V = 32, 4096, 14336, 32, 8, 128, 128256
    BT = 2 * 16
    per_layer = 2 * BT * D * N * H * 2 + 2 * 2 * BT * D * K * H + 2 * 2 * 2 * 16 * 16 * N * H + 3 * 2 * BT * D * F
    assert got.flops_forward == L * per_layer + 2 * BT * D * V
    assert got.flops_backward == 2 * got.flops_forward


def test_mixtral_active_parameters():
    got = count(load_model("mixtral-8x7b"))
    assert got.params_total == 46_702_792_704       # Hugging Face's count for Mixtral-8x7B
    assert 12.8e9 < got.params_active < 13.0e9      # "12.9B active" (Mistral AI's announcement)


def test_a_known_structure_is_counted_from_the_cache_without_building_a_graph(tmp_path):
    """The second `count` of a structure reads its derived expressions from the on-disk cache:
    the same numbers, and networkx (which only building a graph needs) is never imported."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import io, sys, contextlib; from symroof.cli import main; out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out): main(['count', 'deepseek-v3', '--json'])\n"
            "print(out.getvalue()); print('networkx' in sys.modules)")
    env = {**os.environ, "SYMROOF_CACHE_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parent.parent
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env,
                           check=True).stdout.rsplit("\n", 2) for _ in range(2)]
    (first, built, _), (second, cached, _) = runs
    assert built == "True" and cached == "False"
    assert json.loads(first) == json.loads(second)
