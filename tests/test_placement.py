"""A pipeline's uneven split (parallel/placement.py; the runs-file key ``stage_layers``): which layers
each chip runs, against Megatron-LM's rule worked by hand, the chip a step is charged for, and the
ideal and step model of one chip on the symbolic and the exact path alike."""

from fractions import Fraction
from pathlib import Path

import pytest

from symroof.claims.busiest_chip import chips
from symroof.claims.published import load_runs, predict
from symroof.errors import CardError
from symroof.parallel.placement import Placement, check, split
from placement_paths import each_chip_agrees_on_both_paths
from runsfile import ONE_RUN

ROOT = Path(__file__).resolve().parent.parent
V3 = (("dense", 3), ("moe", 58))       # DeepSeek-V3's layers in order (config.json: first_k_dense_replace 3)


def test_a_split_gives_each_stage_megatrons_layers_in_order():
    """Megatron-LM (megatron/core/transformer/transformer_block.py, get_num_layers_to_build): the first
    and last stages take their given counts, the rest share the others evenly, in layer order. NeMo's
    DeepSeek-V3 perf recipe on 16 stages gives 3 and 2: stage 0 holds the three dense layers, stages 1-14
    four MoE layers each (4 of 58), stage 15 the last two; the embedding is stage 0's, the head stage 15's."""
    got = split(V3, 16, 3, 2)
    assert got[0] == Placement((("dense", Fraction(1)),), Fraction(1), Fraction(0))
    assert all(p == Placement((("moe", Fraction(4, 58)),), Fraction(0), Fraction(0)) for p in got[1:15])
    assert got[15] == Placement((("moe", Fraction(2, 58)),), Fraction(0), Fraction(1))
    assert sum(p.layers("moe", 16) for p in got) == 1 and sum(p.layers("dense", 16) for p in got) == 1


def test_dualpipe_runs_stage_i_of_one_direction_and_p_minus_1_minus_i_of_the_other():
    """Rank 0 runs stage 0 of one direction and the last stage of the other, each for half the
    microbatches: half the dense layers and 1/58 of the MoE layers a microbatch, and each end for half."""
    got = split(V3, 16, 3, 2, copies=2)
    assert got[0] == Placement((("dense", Fraction(1, 2)), ("moe", Fraction(1, 58))), Fraction(1, 2), Fraction(1, 2))
    assert got[0] == got[15] and got[7] == Placement((("moe", Fraction(4, 58)),), Fraction(0), Fraction(0))


@pytest.mark.parametrize("stages, first, last, words", [
    (16, 3, 3, "do not divide evenly"), (2, 30, 30, "must add up to"), (4, 40, 30, "exceed"),
    (3, 30, 31, "would hold no layers"), (1, 3, 2, "at least 2 stages")])
def test_a_split_megatron_refuses_is_refused(stages, first, last, words):
    assert words in check(V3, stages, first, last)


def _runs(tmp_path, extra: str, mesh: str = "stage: {size: 4, link: dcn}\n      tensor: {size: 8, link: ici}",
          chips: int = 32, schedule: str = "1f1b") -> Path:
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("      tensor: {size: 8, link: ici}\n      data: {size: 2, link: dcn}\n", f"      {mesh}\n")
                    .replace("chips: 16", f"chips: {chips}")
                    .replace("batch: 4\n", f"batch: 8\n    microbatches: 8\n    schedule: {schedule}\n{extra}"))
    return path


@pytest.mark.parametrize("extra, words", [
    ("    stage_layers: {first: 8}\n", "must be {first: N, last: M}"),
    ("    stage_layers: [8, 8]\n", "must be {first: N, last: M}"),
    ("    stage_layers: {first: 0, last: 8}\n", "stage_layers.first"),
    ("    stage_layers: {first: 9, last: 8}\n", "do not divide evenly"),
    ("    stage_layers: {first: 8, last: 8}\n    interleave: 2\n", "one chunk a stage")])
def test_the_runs_key_is_refused_in_one_line(tmp_path, extra, words):
    schedule = "interleaved" if "interleave" in extra else "1f1b"
    with pytest.raises(CardError, match=words.replace("{", r"\{").replace("[", r"\[")) as err:
        load_runs(_runs(tmp_path, extra, schedule=schedule))
    assert "\n" not in str(err.value) and "stage_layers" in str(err.value)


def test_a_split_without_a_stage_axis_says_so_and_blames_no_schedule(tmp_path):
    """Without a stage axis the refusal names the missing axis, not the default schedule (it said
    'not modelled with virtual stages or 1f1b', which 1F1B is)."""
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("    batch: 4\n", "    batch: 4\n    stage_layers: {first: 8, last: 8}\n"))
    with pytest.raises(CardError, match="stage_layers' needs a 'stage' axis") as err:
        load_runs(path)
    assert "1f1b" not in str(err.value) and "\n" not in str(err.value)


def test_an_even_split_charges_the_head_s_stage_and_the_embedding_s_matmuls_are_none(tmp_path):
    """Llama 3 8B on 4 stages of 8 layers, 1F1B. Given as a split, each stage is a chip: the last (8 layers
    and the head) is the busiest. The default charges one chip both ends; the embedding is a gather, no
    matmul FLOPs, so the two ideal matmul times agree exactly, and the default's HBM time exceeds the
    split's by the embedding's reads."""
    even = load_runs(_runs(tmp_path, ""))[0]
    given = load_runs(_runs(tmp_path, "    stage_layers: {first: 8, last: 8}\n"))[0]
    assert len(chips(given)) == 3            # stage 0, the two between (one placement), stage 3
    a, b = predict(even), predict(given)
    assert a.terms["t_math"] == b.terms["t_math"] > 0
    assert a.terms["t_hbm"] > b.terms["t_hbm"]
    assert a.parts.step(0.6, 0.5, 1e-5) >= b.parts.step(0.6, 0.5, 1e-5)


def test_a_split_chip_is_the_same_on_the_symbolic_and_the_exact_path():
    """NeMo's DeepSeek-V3 row (16 stages: 3 / 4 x 14 / 2, with its MTP module): each chip's ideal terms and
    step model, from SymPy's expressions evaluated and from the exact numbers, agree (the ideal exactly)."""
    each_chip_agrees_on_both_paths(next(r for r in load_runs() if r.name == "dgxc-deepseek-v3-bf16-1024gpu"))
