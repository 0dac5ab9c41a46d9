"""HTML output: `symroof html` pages and notebooks' `_repr_html_`, checked in a real headless Chromium.

The browser check measures every <math> element and every fraction's layout (numerator above
denominator), so it fails if the MathML is missing, renders empty, or is not laid out as math.
"""

import json
import re
import shutil
import subprocess
import sys

import pytest

from symroof.claims import reproduce
from symroof.io.bind import count
from symroof.io.catalog import load_chip, load_model
from symroof.report import html
from symroof.search.plan import plan
from symroof.solve import training

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)

# Added to a test copy only: measures the math after load and writes the result into the DOM.
PROBE = """<script>
window.__errors=[];window.addEventListener('error',e=>window.__errors.push(String(e.message)));
window.addEventListener('load',()=>{
 const boxes=[...document.querySelectorAll('math')].map(m=>{const r=m.getBoundingClientRect();return [r.width,r.height];});
 const fracs=[...document.querySelectorAll('mfrac')].map(f=>f.children[0].getBoundingClientRect().bottom
   <= f.children[1].getBoundingClientRect().top+1);
 const o=document.createElement('pre');o.id='symroof-probe';
 o.textContent=JSON.stringify({count:boxes.length,empty:boxes.filter(b=>!(b[0]>0&&b[1]>0)).length,
   fracs:fracs.length,stacked:fracs.filter(x=>x).length,svg:document.querySelectorAll('svg').length,
   errors:window.__errors});
 document.body.appendChild(o);});
</script>"""


def _render(tmp_path, page: str, name: str = "page") -> tuple[dict, list[str]]:
    if BROWSER is None:
        pytest.skip("no headless Chromium (apt-get install chromium); HTML not rendered")
    path = tmp_path / f"{name}.html"
    path.write_text(page.replace("</head>", PROBE + "</head>", 1))
    out = subprocess.run([BROWSER, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=5000",
                          "--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="symroof-probe">(.*?)</pre>', out.stdout)
    assert found, out.stderr[-2000:]
    console = [line for line in out.stderr.splitlines() if "CONSOLE" in line]
    return json.loads(found.group(1).replace("&quot;", '"')), console


def _problems(probe: dict, console: list[str]) -> list[str]:
    problems = []
    if probe["count"] == 0:
        problems.append("no MathML on the page")
    if probe["empty"]:
        problems.append(f"{probe['empty']} math elements render with zero size")
    if probe["fracs"] and probe["stacked"] != probe["fracs"]:
        problems.append(f"{probe['fracs'] - probe['stacked']} fractions not laid out as fractions")
    return problems + probe["errors"] + console


@pytest.fixture(scope="module")
def seed_page():
    return html.derivation_page(reproduce.run("seed"), plots=True)


@pytest.fixture(scope="module")
def plan_page():
    card, chip = load_model("llama3-70b"), load_chip("tpu-v5p")
    return html.plan_page(plan(card, chip, 8960, 4194304, 4096), card, chip, 8960, 4096, "sum", plots=True)


def test_pages_are_self_contained(seed_page, plan_page):
    for page in (seed_page, plan_page):
        assert page.startswith("<!DOCTYPE html>") and "<math" in page
        assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    assert "x-opt" in seed_page and ">differs<" in seed_page and "1618" in seed_page   # id, verdict, book value
    assert "<svg" in plan_page and "<svg" in seed_page                                  # figures inline


def test_pages_render_math_in_chromium(tmp_path, seed_page, plan_page):
    for name, page in (("seed", seed_page), ("plan", plan_page)):
        probe, console = _render(tmp_path, page, name)
        assert not _problems(probe, console), (name, _problems(probe, console))
        assert probe["count"] > 20 if name == "seed" else probe["count"] >= 3
        assert probe["fracs"] > 0 and probe["svg"] >= 1


def test_the_browser_check_fails_on_missing_or_empty_math(tmp_path, seed_page):
    stripped = re.sub(r"<math.*?</math>", "", seed_page, flags=re.S)
    assert "no MathML on the page" in _problems(*_render(tmp_path, stripped, "stripped"))
    emptied = re.sub(r"(<math[^>]*>).*?</math>", r"\1</math>", seed_page, flags=re.S)
    assert any("zero size" in p for p in _problems(*_render(tmp_path, emptied, "emptied")))
    broken = seed_page.replace("</body>", "<script>console.error('x')</script></body>")
    assert _problems(*_render(tmp_path, broken, "broken"))


def test_page_without_matplotlib_is_written_and_says_so(monkeypatch):
    from symroof.report import plot

    def missing():
        raise plot.MissingExtraError("plotting needs matplotlib")
    monkeypatch.setattr(plot, "_figure", missing)
    page = html.derivation_page(reproduce.run("roofline"), plots=True)
    assert "matplotlib is not installed" in page and "<svg" not in page and "<math" in page


def test_cli_html(tmp_path):
    for args in (["html", "tpus"], ["html", "plan", "llama3-8b", "--chip", "tpu-v5e", "--chips", "16",
                                     "--batch-tokens", "65536", "--no-plots"]):
        out_path = tmp_path / "x.html"
        out = subprocess.run([sys.executable, "-m", "symroof", *args, "-o", str(out_path)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "<math" in out_path.read_text()
    bad = subprocess.run([sys.executable, "-m", "symroof", "html", "plan", "-o", str(tmp_path / "y.html")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "needs MODEL" in bad.stderr and "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- notebooks


def test_repr_html_shows_ids_book_values_verdicts_and_steps():
    report = reproduce.run("training")
    page = report._repr_html_()
    assert "dp-bound-1-axis" in page and "2550" in page and ">match<" in page and "<math" in page
    claim = report.results[0]._repr_html_()
    assert "dp-bound-1-axis" in claim and "document: 2550" in claim and "ClaimResult(" not in claim
    d = training.fsdp_tp_optimum()._repr_html_()
    assert "<math" in d and "step" in d and "d T_comms / dX = 0" in d
    c = count(load_model("llama3-8b"), 1, 4096)._repr_html_()
    assert "8&#8201;030&#8201;261&#8201;248" in c                 # HF num_parameters() of Llama-3-8B
    p = plan(load_model("llama3-8b"), load_chip("tpu-v5e"), 16, 65536, 4096)._repr_html_()
    assert "mesh" in p and "step time" in p and "{" not in p
