"""LaTeX and Markdown write-ups: the formula text in the book's notation, and a real pdflatex build."""

import shutil
import subprocess
import sys

import pytest

from symroof.report import document

from symroof.claims import reproduce


@pytest.fixture(scope="module")
def seed():
    report = reproduce.run("seed")
    return report, {r.id: r for r in report.results}


@pytest.mark.parametrize("cid, line", [
    ("x-opt", r"X_{\text{opt}} = \sqrt{\frac{2 B N}{F}}"),                       # the book's sqrt(2BN/F)
    ("flops-per-token", r"\text{FLOPs}_{\text{train}}/\text{token} = "
                        r"6 \left(3 D F L + 2 D H K L + 2 D H L N + 2 D L + 2 D V + D\right)"),
    ("mixed-bound", r"\left(\frac{B}{N}\right)_{\text{crit}} = \frac{2 \, C^{2}}{F \, W_{\text{ici}}^{2}}"),
    ("fsdp-bound", r"\left(\frac{B}{X}\right)_{\text{crit}} = \frac{C}{3 \, W_{\text{ici}}}"),
    ("memory-checkpoints", r"M_{\text{checkpoints}} = 2 \, B \, D \, L \, n_{\text{ckpt}}"),
    ("ffw-params", r"P_{\text{mlp}} = 3 D F L"),
])
def test_formula_lines(seed, cid, line):
    report, r = seed
    assert document.formula_line(r[cid], report.derivation) == line


def test_no_bare_subscripts(seed):
    report, _ = seed
    text = document.latex_document(report)
    assert "W_{ici}" not in text and r"W_{\text{ici}}" in text
    assert r"\sqrt{2} \sqrt{B}" not in text


def test_fragment_is_equations_only(seed):
    report, _ = seed
    text = document.latex_document(report, fragment=True)
    assert r"\documentclass" not in text
    assert text.count(r"\[") == len(report.results)


def test_markdown(seed):
    report, _ = seed
    text = document.markdown_document(report)
    assert "$$\n" + r"X_{\text{opt}} = \sqrt{\frac{2 B N}{F}}" + "\n$$" in text
    assert "| chosen-mesh |" in text


def test_repr_latex(seed):
    report, r = seed
    assert r["x-opt"]._repr_latex_().startswith("$$X_{\\text{opt}} = ")
    assert report._repr_latex_().startswith("$$\\begin{aligned}")


def test_text_escaping_is_one_pass():
    # each special character once, and the braces of \textbackslash{} are not escaped again
    assert document._tex_text("a<b>c \\x {y} 5% #1 x_1 ~ ^") == (
        r"a\textless{}b\textgreater{}c \textbackslash{}x \{y\} 5\% \#1 x\_1 \textasciitilde{} \textasciicircum{}")
    assert document._tex_text("2 × 3 ≈ 6") == r"2 $\times$ 3 $\approx$ 6"


def test_numbers_carry_units_and_powers_of_ten(seed):
    report, r = seed
    text = document.latex_document(report)
    assert r"C = 4.59 \times 10^{14} \, \text{FLOP" in text          # the v5p peak (FLOP/s), never 459000000000000
    assert "459000000000000" not in text
    assert r"\text{MFU} \, N_{\text{chips}}" in text                 # thin spaces: not "MFUN_chips"
    assert r"= 1619.09" in document.claim_math(r["x-opt"], report.derivation)


def _pdf_text(tmp_path, name: str) -> str:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base); LaTeX build not checked")
    tex = tmp_path / f"{name}.tex"
    out = subprocess.run([sys.executable, "-m", "symroof", "latex", name, "-o", str(tex)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for _ in range(2):   # longtable settles its column widths on the second run
        build = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                               cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert build.returncode == 0, build.stdout[-2000:]
    assert "Overfull \\hbox" not in (tmp_path / f"{name}.log").read_text(errors="replace")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (apt-get install poppler-utils); PDF text not checked")
    return subprocess.run(["pdftotext", "-layout", f"{name}.pdf", "-"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.latex
@pytest.mark.parametrize("name", ["seed", "transformers", "training", "roofline", "tpus", "sharding"])
def test_pdf_text_has_no_glyph_bugs(tmp_path, name):
    text = _pdf_text(tmp_path, name)
    assert "Claims" in text and len(text) > 2000
    for bad in ("¡", "¿", "textbackslash", "\\{}", "00000000"):   # < > as Spanish marks, escaped braces, raw ints
        assert bad not in text, (bad, text[text.find(bad) - 200:text.find(bad) + 50])
    assert "×" in text and "10" in text                                # numbers as 4.59 × 10^14


@pytest.mark.latex
def test_pdf_shows_less_than_and_units(tmp_path):
    text = _pdf_text(tmp_path, "training")
    assert "Y < F / 2550" in text and "B/X > C/W" in text
    text = _pdf_text(tmp_path, "seed")
    assert "FLOP" in text and "/s" in text and "years" in text


def test_cli_markdown_and_fragment(tmp_path):
    md, frag = tmp_path / "s.md", tmp_path / "f.tex"
    for args in (["markdown", "training", "-o", str(md)], ["latex", "seed", "--fragment", "-o", str(frag)]):
        out = subprocess.run([sys.executable, "-m", "symroof", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    assert "$$" in md.read_text()
    assert r"\[ X_{\text{opt}} = \sqrt{\frac{2 B N}{F}} \]" in frag.read_text()


def test_mathml_of_expressions_numbers_and_left_hand_sides():
    from symroof.core import notation
    from symroof.core.symbols import C, W_ici, mfu, n_chips

    m = notation.mathml(2 * C * mfu * n_chips / W_ici)
    assert "<mfrac>" in m and "<mi>MFU</mi>" in m and "<msub><mi>N</mi><mi>chips</mi></msub>" in m
    assert notation.mathml_number(4.59e14, "FLOPs/s") == (
        "<mrow><mn>4.59</mn><mo>×</mo><msup><mn>10</mn><mn>14</mn></msup>"
        '<mspace width="0.3em"/><mtext>FLOPs/s</mtext></mrow>')
    lhs = notation.mathml_from_latex(r"\left(\frac{BT}{X}\right)_{\text{crit}}")
    assert "<mfrac><mrow><mi>B</mi><mi>T</mi></mrow><mrow><mi>X</mi></mrow></mfrac>" in lhs and "crit" in lhs
    assert "<msubsup>" in notation.mathml_from_latex(r"T^{*}_{\text{QKVO}}")
    assert "&lt;script&gt;" in notation.mathml_from_latex(r"\text{<script>}")     # text is escaped, never markup
