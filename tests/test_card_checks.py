"""Cards a user can check: derived numbers shown back, ICI stated the vendor's way, per-dtype
peaks, modified cards named, public citations, and a schema next to the cards.

Independent numbers: tpus.md at 0819a7d gives TPU v5p 9e10 B/s one way per ICI link,
4.59e14 bf16 FLOPs/s, 2.8e12 B/s HBM, so W_ici = 1.8e11 B/s (both neighbour links of a
ring axis), C/W_ici = 2550 and the HBM ridge C/W_hbm = 163.9 FLOPs/byte; a v5p chip has six
ICI links (a 3D torus). Stating the same hardware as a per-chip total over both directions
(9e10 × 2 × 6 = 1.08e12 B/s) must give the same W_ici.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from symroof.cli import main
from symroof.errors import CardError
from symroof.io.chips import override_chip
from symroof.io.catalog import list_cards, load_chip

ROOT = Path(__file__).resolve().parent.parent


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_cards_name_shows_the_derived_numbers(capsys):
    out = _json(capsys, "cards", "tpu-v5p", "--json")
    assert out["W_ici_bytes_per_s"] == 1.8e11
    assert out["ridge_flops_per_byte"]["bf16"]["ici"] == pytest.approx(2550)        # sharding.md Q4
    assert out["ridge_flops_per_byte"]["bf16"]["hbm"] == pytest.approx(4.59e14 / 2.8e12)
    assert out["ridge_flops_per_byte"]["int8"]["hbm"] == pytest.approx(2 * 4.59e14 / 2.8e12)
    assert out["bytes_per_host"] == 4 * 96e9
    assert out["whole_pod_M"] == 3 and out["label"] == "tpu-v5p"
    assert main(["cards", "tpu-v5p"]) == 0
    text = capsys.readouterr().out
    assert "180 GB/s" in text and "2550 FLOP/B" in text and "whole 4-cubes" in text


def test_ici_stated_per_chip_bidirectional_gives_the_books_w_ici():
    v5p = load_chip("tpu-v5p")
    vendor = override_chip(v5p, {"ici_scope": "chip", "ici_link_direction": "bidirectional",
                                 "ici_link_bytes_per_s": "1.08e12"})
    assert vendor.links_per_chip == 6
    assert vendor.ici_bidi_bytes_per_s == v5p.ici_bidi_bytes_per_s == 180_000_000_000


def test_a_vendor_style_card_file_loads_and_shows_its_derivation(tmp_path, capsys):
    raw = yaml.safe_load((ROOT / "models" / "chips" / "tpu-v5p.yaml").read_text())
    raw.update(name="my-tpu", ici_scope="chip", ici_link_direction="bidirectional", ici_link_bytes_per_s="1.2e12")
    path = tmp_path / "my-tpu.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = _json(capsys, "cards", str(path), "--json")
    assert out["W_ici_bytes_per_s"] == 2e11           # 1.2e12 / 2 directions / 6 links × 2 per axis
    assert "total over the chip's 6 links" in out["W_ici_how"]


def test_an_overridden_card_is_named_as_modified(capsys):
    out = _json(capsys, "cards", "tpu-v5p", "--set", "hbm_bytes_per_s=3e12", "--json")
    assert out["label"] == "tpu-v5p (modified: hbm_bytes_per_s=3e12)"
    assert main(["cards", "tpu-v5p", "--set", "hbm_bytes_per_s=3e12"]) == 0
    assert capsys.readouterr().out.startswith("tpu-v5p (modified: hbm_bytes_per_s=3e12)")


def test_a_peak_the_run_does_not_use_is_named(capsys):
    assert main(["cards", "tpu-v5p", "--set", "peak_flops_per_s.fp8=9.18e14"]) == 0
    out = capsys.readouterr().out
    assert "--set peak_flops_per_s.fp8=9.18e14 is not used: this run computes in bf16" in out
    assert main(["cards", "h100-sxm", "--dtype", "fp8"]) == 0
    assert "fp8 (this run)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["cards", "tpu-v5p", "--dtype", "fp4"], ["--dtype fp4", "bf16, int8"]),
    (["cards", "tpu-v5p", "--set", "ici_scope=node"], ["ici_scope", "link, chip"]),
    (["cards", "tpu-v5p", "--set", "peak_flops_per_s.fp9=1e15"], ["unknown chip key"]),
    (["cards", "llama3-70b", "--set", "hbm_bytes=1e9"], ["model card"]),
    (["cards", "nope"], ["unknown card 'nope'", "chip cards: "]),
    # a largest slice above the pod was taken at its word: plan left half of 1024 v5e chips idle
    (["plan", "llama3-8b", "--chip", "tpu-v5e", "--chips", "1024", "--batch-tokens", "1048576", "--set",
      "max_slice_chips=1024"], ["--set max_slice_chips: key 'max_slice_chips' is 1024", "256 chips of the 16x16"]),
    (["cards", "tpu-v5p", "--set", "max_slice_chips=100"], ["--set max_slice_chips: key 'max_slice_chips' is 100",
                                                            "no tpu-v5p slice", "whole 4x4x4 cubes"]),
    (["cards", "tpu-v5e", "--set", "pod_shape=8x8", "--set", "max_slice_chips=128"], ["key 'max_slice_chips'"]),
    # a legal but small largest slice: the whole pod is no slice, and the line says which key said so
    (["cards", "tpu-v5e", "--set", "max_slice_chips=1"], ["--set max_slice_chips: key 'max_slice_chips' is 1",
                                                          "256 chips"]),
    (["formula", "fsdp_max_chips", "--model", "llama3-8b", "--chip", "tpu-v5e", "--chips", "256", "--set",
      "max_slice_chips=1"], ["--set max_slice_chips: key 'max_slice_chips' is 1", "256 chips"]),
    # --dtype picks a chip card's peak: where there is none to pick it is refused, not ignored
    (["cards", "llama3-8b", "--dtype", "foo"], ["--dtype picks a chip card peak", "llama3-8b is a model card"]),
    (["cards", "--dtype", "int8"], ["--dtype is for one chip card"]),
    (["formula", "fsdp_critical_batch", "--book-layer", "--dtype", "int8"], ["--dtype int8", "without a chip card"]),
    (["formula", "x_opt", "--chip", "tpu-v5p", "--dtype", "foo"],
     ["--dtype foo: the chip card tpu-v5p has peak_flops_per_s for bf16, int8", "foo is no dtype"]),
])
def test_bad_card_input_is_one_line(argv, words):
    out = subprocess.run([sys.executable, "-m", "symroof", *argv], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in out.stderr, out.stderr


def test_a_card_files_small_largest_slice_is_named_with_the_file(tmp_path):
    raw = yaml.safe_load((ROOT / "models" / "chips" / "tpu-v5e.yaml").read_text())
    raw["max_slice_chips"] = 64
    path = tmp_path / "small-slices.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = subprocess.run([sys.executable, "-m", "symroof", "cards", str(path)], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert f"{path}: key 'max_slice_chips' is 64" in out.stderr, out.stderr


def test_a_card_with_an_unknown_dtype_is_refused(tmp_path):
    raw = yaml.safe_load((ROOT / "models" / "chips" / "tpu-v5p.yaml").read_text())
    raw["peak_flops_per_s"]["fp7"] = "1e15"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(CardError, match="'peak_flops_per_s.fp7' names no dtype"):
        load_chip(str(path))


def test_sources_cite_public_documents():
    """Every card and derivation source a user can follow: no private notes."""
    for path in list((ROOT / "models").rglob("*.yaml")) + list((ROOT / "derivations").glob("*.yaml")):
        text = path.read_text()
        assert "reference/" not in text and "book-1-3" not in text and "book-4-6" not in text, path
    for name in list_cards()["chips"]:
        chip = load_chip(name)
        for key, source in chip.sources.items():
            assert re.search(r"https://|NVIDIA|datasheet|see the|switched|\bbook\b", source), (name, key, source)
        if chip.family == "tpu":
            assert any("github.com/jax-ml/scaling-book/blob/0819a7d/" in s for s in chip.sources.values())


def test_the_schema_sits_next_to_the_cards_and_discovery_ignores_it():
    schema = ROOT / "models" / "SCHEMA.md"
    text = schema.read_text()
    for key in ("peak_flops_per_s", "ici_link_bytes_per_s", "ici_link_direction", "ici_scope", "sources"):
        assert key in text
    names = list_cards()
    assert "SCHEMA" not in names["models"] + names["chips"]


def test_plan_and_ops_name_a_card_changed_by_set_as_modified(capsys):
    from symroof.cli import main

    assert main(["plan", "llama3-70b", "--chip", "tpu-v5p", "--chips", "64", "--batch-tokens", "262144",
                 "--set", "hbm_bytes_per_s=3e12"]) == 0
    assert "64 × tpu-v5p (modified: hbm_bytes_per_s=3e12)" in capsys.readouterr().out
    assert main(["ops", "llama3-8b", "--chip", "tpu-v5p", "--set", "hbm_bytes_per_s=3e12"]) == 0
    assert capsys.readouterr().out.startswith("llama3-8b on tpu-v5p (modified: hbm_bytes_per_s=3e12)")


def test_an_unknown_card_name_lists_both_kinds(capsys):
    from symroof.cli import main

    assert main(["cards", "tpu-v9"]) == 2
    err = capsys.readouterr().err
    assert "unknown card 'tpu-v9'" in err and "chip cards: " in err and "tpu-v5p" in err and err.count("\n") == 1


def test_a_chip_card_shows_its_step_model_numbers_and_calibration(capsys):
    """The numbers ``validate`` and ``predict`` take from a card beyond the roofline, each shown with
    the limit the model uses where the card states none: NCCL's 14 µs ring step on a GPU card
    (tuning.cc), none on a TPU card (there t_dcn is fitted), and the calibration block."""
    gpu = _json(capsys, "cards", "h100-sxm", "--json")["step_model"]
    assert gpu["scale-out ring step"] == "14 µs" and gpu["collective launch"] == "8.4 µs"
    assert gpu["overlapped traffic hidden"] == "ici 0.811, dcn 0.811"
    assert gpu["calibration"].startswith("eta_mm ") and "eta_mem " in gpu["calibration"]
    tpu = _json(capsys, "cards", "tpu-v5p", "--json")["step_model"]
    assert tpu["scale-out ring step"] == "not stated" and tpu["matrix unit"] == "128 x 128 tiles, 8 units"
    assert main(["cards", "h100-sxm"]) == 0
    assert "limit when absent" in capsys.readouterr().out
