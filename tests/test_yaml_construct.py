"""read_yaml's own construction of plain documents against PyYAML's safe loader on the same text:
the same values (aliases shared as PyYAML shares them, merge keys merged as PyYAML merges them), and
PyYAML's result or refusal for anything beyond mappings, lists and plain scalars (timestamps, set and
custom tags)."""

import pytest
import yaml

from symroof.errors import CardError
from symroof.io.readers import read_yaml

SAME = [
    "a: 1\nb: [x, 2.5, true, null, ~, '3', -0x1f, 1_000, .inf, 0o17]\nc: {d: e}\n",
    "base: &b {size: 8, link: ici}\nmesh: {data: *b, tensor: *b}\nempty: &e {}\nagain: [*e, *e]\n",
    "runs:\n  - name: r\n    mesh: {fsdp: {size: 64, link: ici}}\n    measured_mfu: 0.41\n  - []\n",
    "1: one\n2.5: two\ntrue: three\nnull: four\n",
    "base: &b {x: 1, y: 2}\nmerged: {<<: *b, y: 3}\n",                  # merge keys
    "a: &a {x: 1, y: 2}\nb: &b {y: 5, z: 6, <<: *a}\nc: {<<: [*b, *a], w: 0}\nd: [{<<: *a}, {<<: *b}]\n",
    "runs:\n  - &m {size: 8, link: ici, wrap: true}\n  - <<: *m\n    size: 16\n  - {<<: *m, link: dcn}\n",
    "when: 2024-01-02\nat: 2001-12-14t21:59:43.10-05:00\n",              # timestamps: PyYAML's
    "pairs: {=: value-key}\nset: !!set {a, b}\n",                         # '=' and !!set: PyYAML's
    "s: !!str 12\nf: !!float 3\nlist: !!seq [1]\n",
    # integers: plain decimal digits (read directly) beside every other form PyYAML's int rule reads
    "i: [0, 7, 10, 300, 4096, 00, 007, 0b101, 0x1F, 1_024, +12, -12, '-0', 190:20:30, 1e3, !!int 12]\n",
]


@pytest.mark.parametrize("text", SAME)
def test_values_are_pyyaml_s(tmp_path, text):
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    got, want = read_yaml(path), yaml.safe_load(text)
    assert got == want and repr(got) == repr(want)       # repr: the same types (1 is not 1.0, nor True)


def test_an_alias_is_one_object_as_in_pyyaml(tmp_path):
    path = tmp_path / "doc.yaml"
    path.write_text("base: &b {size: 8}\nmesh: {data: *b, tensor: *b}\nl: &l [1]\nm: [*l]\n")
    got, want = read_yaml(path), yaml.safe_load(path.read_text())
    assert (got["mesh"]["data"] is got["mesh"]["tensor"]) == (want["mesh"]["data"] is want["mesh"]["tensor"]) is True
    assert (got["m"][0] is got["l"]) == (want["m"][0] is want["l"]) is True


def test_a_tag_pyyaml_refuses_is_one_line(tmp_path):
    path = tmp_path / "doc.yaml"
    path.write_text("a: !python/object:os.system echo\n")
    with pytest.raises(CardError, match="is not valid YAML"):
        read_yaml(path)


def test_a_bad_merge_is_one_line(tmp_path):
    path = tmp_path / "doc.yaml"
    path.write_text("a: {<<: 3, b: 1}\n")
    with pytest.raises(CardError, match="is not valid YAML"):
        read_yaml(path)
