"""Megatron-LM's pipeline layout (the runs-file key ``pipeline_layout``: io/pipeline_layout.py,
parallel/placement.py, claims/pipeline_split.py): the string read as Megatron's documentation reads
it, each chip's layers and ends against its rank map worked by hand, the chip a step is charged for
with virtual stages, and the refusals, each in one line."""

from fractions import Fraction as F

import pytest

from symroof.claims.busiest_chip import chips
from symroof.claims.published import load_runs, predict
from symroof.errors import CardError
from symroof.io.pipeline_layout import parse
from symroof.parallel.placement import Placement, check_layout, from_layout
from placement_paths import each_chip_agrees_on_both_paths
from runsfile import ONE_RUN

V3 = (("dense", 3), ("moe", 58))       # DeepSeek-V3's layers in order (config.json: first_k_dense_replace 3)


def test_the_string_reads_as_megatrons_docstring_says():
    """NVIDIA/Megatron-LM@d98e8a6 pipeline_parallel_layer_layout.py, parse_str_to_list: "Ettt|(tt|)*29,m|L"
    is [["E","t","t","t"]] + [["t","t"]]*29 + [["m"],["L"]]; the user guide's "Et*3|..." is the same; an
    empty stage ("E||t|L") is allowed."""
    want = ("Ettt",) + ("tt",) * 29 + ("m", "L")
    assert parse("Ettt|(tt|)*29,m|L", "f", 200) == want
    assert parse("Et*3|(tt|)*29,m|L", "f", 200) == want
    assert parse("E||t|L", "f", 20) == ("E", "", "t", "L")


def test_a_repeat_count_is_read_as_megatrons_regex_reads_it():
    """Megatron's parse_str_to_list reads a count with the regex ``\\d+``, which in a Python str pattern is any
    Unicode decimal digit (category Nd: Python's re docs), so "t*\u0663" (ARABIC-INDIC DIGIT THREE) is three
    layers; "\u00b2" (superscript two) is no decimal digit, so there is no count and the '*' is refused."""
    assert parse("Et*\u0663|L", "f", 20) == ("Ettt", "L")
    with pytest.raises(CardError, match="repeat count"):
        parse("Et*\u00b2|L", "f", 20)


def test_each_rank_holds_what_megatrons_rank_map_shows():
    """The user guide's table for "Et*3|(tt|)*29,m|L" on 16 stages (2 virtual): rank 0 holds the embedding
    and 3 + 2 layers, ranks 1-13 2 + 2, rank 14 2 layers and the MTP module, rank 15 2 layers and the loss.
    Chunk j is on rank j mod 16, and layers go to chunks in order: rank 0's are layers 0-2 (all three dense)
    and 32-33, so it runs every dense layer and 2 of the 58 MoE layers."""
    chunks = parse("Et*3|(tt|)*29,m|L", "f", 200)
    got = from_layout(chunks, V3, 16)
    assert got[0] == Placement((("dense", F(1)), ("moe", F(2, 58))), F(1), F(0))
    assert all(p == Placement((("moe", F(4, 58)),), F(0), F(0)) for p in got[1:14])
    assert got[14] == Placement((("moe", F(2, 58)),), F(0), F(0))
    assert got[15] == Placement((("moe", F(2, 58)),), F(0), F(1))
    # MTP is one of the last end's modules in symroof, so a module on rank 14 apart from the loss is refused
    assert "apart from the loss" in check_layout(chunks, 61, 16, 2, 1)


def test_deepseek_v3s_layout_in_megatrons_model_zoo():
    """yanring/Megatron-MoE-ModelZoo best_practice/deepseek-v3 ("Et|(tt|)*30mL", 16 stages x 2 virtual): chunk 0
    is the embedding and layer 0, chunk j the layers 2j - 1 and 2j, chunk 31 the MTP module and the loss. Rank
    0 holds chunks 0 and 16 (dense layer 0, MoE layers 31-32), rank 1 chunks 1 and 17 (dense 1-2, MoE 33-34),
    ranks 2-14 four MoE layers, rank 15 chunks 15 and 31 (MoE 29-30, the module and the loss)."""
    chunks = parse("Et|(tt|)*30mL", "f", 200)
    got = from_layout(chunks, V3, 16)
    assert got[0] == Placement((("dense", F(1, 3)), ("moe", F(2, 58))), F(1), F(0))
    assert got[1] == Placement((("dense", F(2, 3)), ("moe", F(2, 58))), F(0), F(0))
    assert all(p == Placement((("moe", F(4, 58)),), F(0), F(0)) for p in got[2:15])
    assert got[15] == Placement((("moe", F(2, 58)),), F(0), F(1))
    assert check_layout(chunks, 61, 16, 2, 1) is None


def test_accounting_for_the_embedding_and_the_loss_as_layers():
    """Megatron-LM's --account-for-embedding-in-pipeline-split and --account-for-loss-in-pipeline-split
    count the embedding and the loss as a layer each: 94 layers + 2 on 8 stages x 4 virtual is 3 a chunk,
    "Ett|(ttt|)*30ttL". Rank 0 holds chunks 0, 8, 16, 24: the embedding and 2 + 3 + 3 + 3 = 11 layers;
    rank 7 chunks 7, 15, 23, 31: 3 + 3 + 3 + 2 = 11 and the loss; ranks 1-6 12 each."""
    got = from_layout(parse("Ett|(ttt|)*30ttL", "f", 200), (("layer", 94),), 8)
    assert got[0] == Placement((("layer", F(11, 94)),), F(1), F(0))
    assert got[7] == Placement((("layer", F(11, 94)),), F(0), F(1))
    assert all(p == Placement((("layer", F(12, 94)),), F(0), F(0)) for p in got[1:7])
    assert check_layout(parse("Ett|(ttt|)*30ttL", "f", 200), 94, 8, 4, 0) is None


def test_an_empty_chip_is_not_read_as_an_even_split():
    """A chip whose chunks hold nothing runs no layer (an empty share list would mean the even split's 1/p)."""
    got = from_layout(("Et", "", "tL"), (("layer", 2),), 3)
    assert got[1].layers("layer", 3) == 0 and got[1].end("first") == got[1].end("last") == 0


def _runs(tmp_path, extra: str, stages: int = 4, interleave: int = 1, schedule: str = "1f1b"):
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("      tensor: {size: 8, link: ici}\n      data: {size: 2, link: dcn}\n",
                                    f"      stage: {{size: {stages}, link: dcn}}\n      tensor: {{size: 8, link: ici}}\n")
                    .replace("chips: 16", f"chips: {8 * stages}")
                    .replace("batch: 4\n", f"batch: 8\n    microbatches: 8\n    schedule: {schedule}\n"
                                           f"    interleave: {interleave}\n{extra}"))
    return path


def test_a_layout_of_one_chunk_a_stage_is_the_first_last_split(tmp_path):
    """Llama 3 8B (32 layers) on 4 stages: "Ettttttt|(tttttttt|)*2tttttttttL" is stage_layers {first: 7,
    last: 9}; both keys give the same chips and the same step, to the last bit."""
    a = load_runs(_runs(tmp_path, "    pipeline_layout: \"Et*7|(t*8|)*2t*9L\"\n"))[0]
    b = load_runs(_runs(tmp_path, "    stage_layers: {first: 7, last: 9}\n"))[0]
    assert chips(a) == chips(b) and len(chips(a)) == 3
    assert predict(a).terms == predict(b).terms


def test_virtual_stages_take_their_chunks_on_both_paths(tmp_path):
    """Llama 3 8B on 4 stages x 2 virtual, interleaved, the embedding a chunk of its own
    ("E|(t*6|)*4t*4|t*2|t*2L"): chip j holds chunks j and j + 4, so chip 0 runs the embedding and 6 layers,
    chip 1 6 + 4, chip 2 6 + 2, chip 3 6 + 2 and the loss. The busiest
    chip's ideal terms agree exactly on the symbolic and the exact path, its step model to 1e-12."""
    run = load_runs(_runs(tmp_path, "    pipeline_layout: \"E|(t*6|)*4t*4|t*2|t*2L\"\n", interleave=2,
                          schedule="interleaved"))[0]
    got = from_layout(run.layout, run.model.layers, 4)
    assert [p.layers("layer", 4) for p in got] == [F(6, 32), F(10, 32), F(8, 32), F(8, 32)]
    assert [(p.end("first"), p.end("last")) for p in got] == [(1, 0), (0, 0), (0, 0), (0, 1)]
    each_chip_agrees_on_both_paths(run)


@pytest.mark.parametrize("layout, schedule", [("E|t*16|t*16|L", "zb1p"), ("Et*16|||t*16L", "dualpipe")])
def test_a_chip_with_no_layers_under_a_schedule_that_weighs_its_work(tmp_path, layout, schedule):
    """ZB-H1's and DualPipe's bubbles are idle time in a chip's F, B and W ((PP - 1)(F + B - 2W) and
    (PP/2 - 1)(F&B + B - 3W): DeepSeek-V3 report, arXiv 2412.19437, Table 2), over its ideal m(F + B).
    A chip whose chunks hold no layer (the embedding alone, a gather of no FLOPs; or, under DualPipe, two
    empty chunks) has no F, B or W, so no idle time of its own: its bubble is 0, where 0/0 was a traceback.
    It runs no FLOPs, so its math term is 0."""
    from symroof.parallel import pipeline

    assert pipeline.row(schedule, 4, 8, 1, work=(0, 0, 0))["bubble"] == 0
    run = load_runs(_runs(tmp_path, f"    pipeline_layout: \"{layout}\"\n", schedule=schedule))[0]
    terms = each_chip_agrees_on_both_paths(run)
    empty = [place for place in terms if place.layers("layer", 4) == 0 and place.end("last") == 0]
    assert len(empty) == 1 and terms[empty[0]]["t_math"] == 0
    assert predict(run).terms["t_step"] > 0


@pytest.mark.parametrize("extra, words", [
    ("    pipeline_layout: \"Et*7|(t*8|)*2t*9L\"\n    stage_layers: {first: 7, last: 9}\n", "give one"),
    ("    pipeline_layout: 7\n", "must be a Megatron-LM layout string"),
    ("    pipeline_layout: \"(t|)*99999999999999\"\n", "repeat count"),
    ("    pipeline_layout: \"(t|)*999999\"\n", "expands to more than"),
    # '²' and '①' are digits to str.isdigit but not decimals: int() cannot read them, nor does Megatron's \d
    ("    pipeline_layout: \"Et*7|(t*8|)*2t*\u00b2L\"\n", "repeat count"),
    ("    pipeline_layout: \"Et*7|(t*8|)*2t*\u2460L\"\n", "repeat count"),
    ("    pipeline_layout: \"((t|)*2)*3\"\n", "nested"),
    # Megatron's parse_str_to_list drops commas only: a space is an "Invalid layer character"
    ("    pipeline_layout: \"Et*7 | (t*8|)*2t*9L\"\n", "unknown character ' '"),
    ("    pipeline_layout: \"Ex|L\"\n", "unknown character 'x'"),
    ("    pipeline_layout: \"Et*8|(t*8|)*2t*9L\"\n", "33 layers (t), but the model has 32"),
    ("    pipeline_layout: \"t*8|E(t*8|)*2t*8L\"\n", "embedding (E) must come first"),
    ("    pipeline_layout: \"Et*7|(t*8|)*2t*9mL\"\n", "MTP modules (m), but the run trains 0"),
    ("    pipeline_layout: \"E|(t*6|)*4t*4|t*2|t*2L\"\n", "not the 1 a stage"),
])
def test_a_layout_megatron_or_symroof_refuses_is_refused_in_one_line(tmp_path, extra, words):
    with pytest.raises(CardError, match=words.replace("(", r"\(").replace(")", r"\)")) as err:
        load_runs(_runs(tmp_path, extra))
    assert "\n" not in str(err.value) and "pipeline_layout" in str(err.value)


def test_a_layout_needs_a_stage_axis_and_a_schedule_it_models(tmp_path):
    path = tmp_path / "runs.yaml"
    path.write_text(ONE_RUN.replace("    batch: 4\n", "    batch: 4\n    pipeline_layout: \"Et*16|t*16L\"\n"))
    with pytest.raises(CardError, match="'pipeline_layout' needs a 'stage' axis"):
        load_runs(path)
    with pytest.raises(CardError, match="not modelled with dualpipev"):
        load_runs(_runs(tmp_path, "    pipeline_layout: \"E|(t*6|)*4t*4|t*2|t*2L\"\n", interleave=2, schedule="dualpipev"))
