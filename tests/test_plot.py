"""Figures: the drawn lines are read back from the matplotlib Figure and checked against the
solver's closed forms, the book's numbers and hand-computed intensities; the saved PNG is
decoded and checked for size and content.

Independent numbers used here (book-4-6.md 2.1–2.4): on a 16×16×16 v5p slice (4096 chips, 3
wrapped axes) FSDP and DP are compute-bound above α/M_X = 2550/3 = 850 tokens per chip;
FSDP+TP at X_opt with M_X = 2, M_Y = 1 above 2α²/F = 453.58 for F = 28,672 (pinned rule);
v5p's C/W_hbm is 164 FLOPs/byte.
"""

import importlib.util
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from symroof.report import plot

from symroof.solve import training as solve
from symroof.io.catalog import load_chip, load_model
from symroof.cli import main
from symroof.io.bind import chip_values, evaluate, model_values, op_table
from symroof.core.symbols import M_X, M_Y, b_act, n_chips

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib not installed: pip install 'symroof[plot]'")
CHIPS = 4096
REL = 1e-6      # crossings are interpolated in log-log; every curve here is a power law, so
                # the interpolation is exact and only float rounding is left


@pytest.fixture(scope="module")
def ratio_plot():
    return plot.ratio(load_model("llama3-70b"), load_chip("tpu-v5p"), CHIPS)


def _lines(fig):
    """Label prefix -> (x, y) arrays of each curve, read back from the drawn Figure."""
    ax = fig.axes[0]
    return {line.get_label().split(" (")[0]: line.get_xydata() for line in ax.get_lines()
            if not line.get_label().startswith("_")}


def _crossing(xy):
    """First x where y crosses 1, interpolated linearly in log-log space (the test's own)."""
    for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
        if (y0 - 1) * (y1 - 1) <= 0 and y0 != y1:
            t = math.log(y0) / (math.log(y0) - math.log(y1))
            return math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))
    return None


def _solver(expr, **m):
    card, chip = load_model("llama3-70b"), load_chip("tpu-v5p")
    values = {**model_values(card), **chip_values(chip), b_act: 2, n_chips: CHIPS,
              **{ {"M_X": M_X, "M_Y": M_Y}[k]: v for k, v in m.items()}}
    return float(evaluate(expr, values))


@needs_matplotlib
def test_ratio_curves_cross_the_line_at_the_solvers_critical_batch(ratio_plot):
    lines = _lines(ratio_plot.figure)
    assert set(lines) >= {"DP", "FSDP", "TP", "FSDP+TP", "compute-bound line"}
    # the compute-bound line is drawn at ratio = 1
    assert all(y == 1 for _, y in lines["compute-bound line"])
    for name, fsdp in (("DP", False), ("FSDP", True)):
        expected = _solver(solve.data_parallel_batch(fsdp=fsdp).expr, M_X=3)
        assert _crossing(lines[name]) == pytest.approx(expected, rel=REL)
        assert _crossing(lines[name]) == pytest.approx(850, rel=1e-9)        # book: 2550 / 3
    mixed = _solver(solve.fsdp_tp_optimum().extra["critical_batch"], M_X=2, M_Y=1)
    assert _crossing(lines["FSDP+TP"]) == pytest.approx(mixed, rel=REL)
    assert _crossing(lines["FSDP+TP"]) == pytest.approx(453.58, rel=1e-4)   # book: 2·2550²/28672
    # the value the function reports (and annotates) is the crossing that is drawn
    for name in ("DP", "FSDP", "FSDP+TP"):
        assert ratio_plot.data["crossing"][name] == pytest.approx(_crossing(lines[name]), rel=1e-9)


@needs_matplotlib
def test_tp_ratio_is_flat_at_y_max_over_chips(ratio_plot):
    # TP's ratio does not depend on the batch: it is Y_max / Y with Y = all 4096 chips (M_Y = 3)
    y_max = _solver(solve.tensor_parallel_degree().expr, M_Y=3)
    ys = _lines(ratio_plot.figure)["TP"][:, 1]
    assert ys == pytest.approx([y_max / CHIPS] * len(ys), rel=1e-9)
    assert y_max == pytest.approx(3 * 28672 / 2550, rel=1e-9)               # book: Y < M_Y·F/α
    assert _crossing(_lines(ratio_plot.figure)["TP"]) is None


@needs_matplotlib
def test_ratio_figure_names_model_chip_and_units(ratio_plot):
    fig = ratio_plot.figure
    title = fig.get_suptitle()
    assert "llama3-70b" in title and "tpu-v5p" in title and "book layer" in title
    ax = fig.axes[0]
    assert "tokens" in ax.get_xlabel() and "T_math / T_comms" in ax.get_ylabel()
    assert ax.get_legend() is not None


@needs_matplotlib
def test_saved_png_decodes_to_an_image_with_curves(ratio_plot, tmp_path):
    from matplotlib import colors
    from matplotlib.image import imread

    path = ratio_plot.save(tmp_path / "ratio.png")
    img = imread(path)
    width, height = (round(s * plot.DPI) for s in plot.SIZE_INCHES)
    assert img.shape[:2] == (height, width)
    rgb = img[:, :, :3]
    ink = (rgb < 0.95).any(axis=2)
    assert 0.02 < ink.mean() < 0.5          # drawn on, but not a solid block
    # each curve's own colour is on the canvas (not only in the legend)
    curves = [line for line in ratio_plot.figure.axes[0].get_lines()
              if line.get_label().split(" (")[0] in plot.STRATEGIES]
    assert len(curves) == 4
    for line in curves:
        alpha = line.get_alpha() or 1.0      # a translucent line is blended with the white canvas
        r, g, b = (alpha * c + (1 - alpha) for c in colors.to_rgb(line.get_color()))
        near = (abs(rgb[:, :, 0] - r) < 0.08) & (abs(rgb[:, :, 1] - g) < 0.08) & (abs(rgb[:, :, 2] - b) < 0.08)
        assert near.sum() > 200, line.get_label()


@pytest.fixture(scope="module")
def roof_plot():
    return plot.roofline(load_model("llama3-70b"), load_chip("tpu-v5p"), batch=1, seq=4096)


@needs_matplotlib
def test_roofline_places_every_op_at_its_intensity_on_the_roof(roof_plot):
    chip = load_chip("tpu-v5p")
    peak, bw = float(chip.peak_flops_per_s["bf16"]), float(chip.hbm_bytes_per_s)
    assert peak / bw == pytest.approx(164, abs=0.5)                  # book: v5p C/W_hbm = 164
    ax = roof_plot.figure.axes[0]
    points = [tuple(p) for coll in ax.collections for p in coll.get_offsets()]
    table = op_table(load_model("llama3-70b"), chip, 1, 4096)
    rows = [r for r in table if r.bytes > 0 and r.flops + r.vector_flops > 0]
    assert len(points) == len(rows)
    # the ops left off are exactly those a log axis cannot hold, and the figure says how many
    left = sorted(sum(roof_plot.data["omitted"].values(), []))
    assert left == sorted(r.name for r in table if r.bytes == 0 or r.flops + r.vector_flops == 0)
    assert f"{len(roof_plot.data['omitted']['no FLOPs'])} with no FLOPs" in roof_plot.figure.get_suptitle()
    assert sorted(x for x, _ in points) == pytest.approx(sorted(r.intensity for r in rows), rel=1e-12)
    for x, y in points:
        assert y == pytest.approx(min(peak, bw * x), rel=1e-12)
    roof = next(line for line in ax.get_lines() if "roof" in line.get_label())
    for x, y in roof.get_xydata():
        assert y == pytest.approx(min(peak, bw * x), rel=1e-12)
    # the MLP up projection by hand: 2·T·D·F FLOPs over 2·(T·D + D·F + T·F) bytes (bf16)
    t, d, f = 4096, 8192, 28672
    x_up, _ = roof_plot.data["ops"]["layer/mlp/up"]
    assert x_up == pytest.approx(t * d * f / (t * d + d * f + t * f), rel=1e-12)
    assert x_up > peak / bw                                           # so it sits on the flat roof


@needs_matplotlib
def test_roofline_labels_and_svg(roof_plot, tmp_path):
    fig = roof_plot.figure
    assert "llama3-70b" in fig.get_suptitle() and "tpu-v5p" in fig.get_suptitle()
    ax = fig.axes[0]
    assert "FLOPs/byte" in ax.get_xlabel() and "FLOPs/s" in ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) >= 3
    root = ET.parse(roof_plot.save(tmp_path / "roof.svg")).getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 100


@needs_matplotlib
def test_cli_writes_the_file_and_refuses_other_formats(tmp_path, capsys):
    out = tmp_path / "r.png"
    assert main(["plot", "roofline", "llama3-8b", "--chip", "h100-sxm", "--seq", "128", "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000
    assert main(["plot", "ratio", "llama3-8b", "--chip", "tpu-v5p", "--chips", "64", "-o", str(tmp_path / "r.pdf")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and ".png" in err and ".svg" in err


def test_missing_matplotlib_is_one_line_telling_what_to_install(monkeypatch, tmp_path, capsys):
    # a None entry in sys.modules makes the import fail, as if the extra were not installed
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(plot.MissingExtraError, match=r"pip install 'symroof\[plot\]'"):
        plot.roofline(load_model("llama3-8b"), load_chip("h100-sxm"))
    argv = ["plot", "roofline", "llama3-8b", "--chip", "h100-sxm", "-o", str(tmp_path / "x.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "symroof[plot]" in err
    assert not (tmp_path / "x.png").exists()


def test_plot_module_imports_no_matplotlib_at_import_time():
    import subprocess

    code = "import sys, symroof.report.plot, symroof.cli; print('matplotlib' in sys.modules, 'numpy' in sys.modules)"

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["False", "False"]


@needs_matplotlib
def test_overlap_max_moves_the_mixed_crossing_to_the_later_revisions_bound():
    fig = plot.ratio(load_model("llama3-70b"), load_chip("tpu-v5p"), CHIPS, overlap="max").figure
    crossing = _crossing(_lines(fig)["FSDP+TP"])
    expected = _solver(solve.fsdp_tp_optimum(overlap="max").extra["critical_batch"], M_X=2, M_Y=1)
    assert crossing == pytest.approx(expected, rel=REL)
    assert crossing == pytest.approx(113.39, rel=1e-4)                  # book (rev.): 2550²/(2F)
