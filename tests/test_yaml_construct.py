"""read_yaml's own construction of plain documents against PyYAML's safe loader on the same text:
the same values (aliases shared as PyYAML shares them, merge keys merged as PyYAML merges them), and
PyYAML's result or refusal for anything beyond mappings, lists and plain scalars (timestamps, set and
custom tags)."""

import pytest
import yaml

from symroof.errors import CardError
from symroof.io.readers import read_yaml

SAME = [
    "a: 1\nb: [x, 2.5, true, null, ~, '3', -0x1f, '1_000', .inf, 0o17]\nc: {d: e}\n",
    "base: &b {size: 8, link: ici}\nmesh: {data: *b, tensor: *b}\nempty: &e {}\nagain: [*e, *e]\n",
    "runs:\n  - name: r\n    mesh: {fsdp: {size: 64, link: ici}}\n    measured_mfu: 0.41\n  - []\n",
    "1: one\n2.5: two\ntrue: three\nnull: four\n",
    "base: &b {x: 1, y: 2}\nmerged: {<<: *b, y: 3}\n",                  # merge keys
    "a: &a {x: 1, y: 2}\nb: &b {y: 5, z: 6, <<: *a}\nc: {<<: [*b, *a], w: 0}\nd: [{<<: *a}, {<<: *b}]\n",
    "runs:\n  - &m {size: 8, link: ici, wrap: true}\n  - <<: *m\n    size: 16\n  - {<<: *m, link: dcn}\n",
    "when: 2024-01-02\nat: 2001-12-14t21:59:43.10-05:00\n",              # timestamps: PyYAML's
    "pairs: {=: value-key}\nset: !!set {a, b}\n",                         # '=' and !!set: PyYAML's
    "s: !!str 12\nf: !!float 3\nlist: !!seq [1]\n",
    # integers: plain decimal digits (read directly) beside the other forms PyYAML's int rule reads and
    # YAML 1.2 reads alike (the rest are refused: test_a_number_only_yaml_1_1_reads_is_refused)
    "i: [0, 7, 10, 300, 4096, 00, 0x1F, +12, -12, '-0', 1e3, !!int 12]\n",
]


@pytest.mark.parametrize("value", ["007", "0b101", "1_024", "190:20:30", "-1_000", "1_000.5", "1:30.5"])
def test_a_number_only_yaml_1_1_reads_is_refused(tmp_path, value):
    # PyYAML reads 007 as octal 7, 190:20:30 as 685230 (base 60), 1_024 as 1024; YAML 1.2 reads each
    # as text, or as another number
    path = tmp_path / "doc.yaml"
    path.write_text(f"i: [1, {value}]\n")
    with pytest.raises(CardError, match=f"line 1: a list item is '{value}', a number only YAML 1.1 reads so"):
        read_yaml(path)


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


@pytest.mark.parametrize("text", [
    "x: [" + ",".join(["1"] * 5_000_000) + "]\n",                         # 10 MB, one list
    "".join(f"k{i}: 1\n" for i in range(200_000)),                         # one mapping
    "x: [" + ",".join(["1"] * 200_000) + ", [\n",                          # and invalid after the limit
])
def test_a_document_of_millions_of_nodes_is_refused_before_pyyaml_builds_them(tmp_path, monkeypatch, text):
    # a 10 MB list of 5 million numbers took 22 s and 2.1 GB to build into nodes, which _check then refused
    from symroof.io import readers

    def built(node, path):
        raise AssertionError("the nodes were built")
    monkeypatch.setattr(readers, "_check", built)
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    with pytest.raises(CardError, match="it expands to more than 100000 values"):
        read_yaml(path)


def test_the_shipped_files_are_read_without_counting_their_events(monkeypatch):
    # the count from libyaml's events is asked only of a document that may hold more than the limit
    from pathlib import Path

    from symroof.io import readers

    def counted(text, path):
        raise AssertionError(f"{path} was scanned")
    monkeypatch.setattr(readers, "_few_nodes", counted)
    root = Path(readers.__file__).resolve().parents[2]
    for path in sorted(root.glob("derivations/*.yaml")) + sorted(root.glob("models/**/*.yaml")):
        read_yaml(path)


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


CHECKED = SAME + [
    "a: 1\nb: 2\na: 3\n", "m: {x: 1, y: {z: 2, z: 3}}\n", "l: [{k: 1, k: 2}]\n",        # keys given twice
    "flag: yes\n", "l: [on]\n", "off: 1\n", "n: " + "9" * 5000 + "\n",                   # scalars refused
    "d: " + "[" * 101 + "]" * 101 + "\n", "d: " + "[" * 99 + "]" * 99 + "\n",          # depth, either side
    "d: " + "{a: " * 100 + "1" + "}" * 100 + "\n",
    _bomb(4), _bomb(6),                                                               # an alias bomb, and not
    "a: &a [1, *a]\n", "a: &a {b: *a}\n",                                             # documents that hold themselves
]


@pytest.mark.parametrize("text", CHECKED, ids=range(len(CHECKED)))
def test_the_one_pass_check_says_what_the_full_walk_says(tmp_path, monkeypatch, text):
    """``_check``'s recursive pass (readers._plainly_fine) answers only where the full walk finds nothing;
    with it or without it, the same document is read or refused with the same message."""
    from symroof.io import readers

    path = tmp_path / "doc.yaml"
    path.write_text(text)

    def outcome():
        try:
            return repr(read_yaml(path))
        except CardError as err:
            return f"refused: {err}"
    fast = outcome()

    def doubt(node, most):
        raise readers._Doubt
    monkeypatch.setattr(readers, "_plainly_fine", doubt)
    assert fast == outcome()


def test_the_shipped_files_take_the_one_pass():
    """Every card and runs file shipped is answered by the recursive pass (the full walk never runs)."""
    from pathlib import Path

    from symroof.io import readers

    root = Path(readers.__file__).resolve().parents[2]
    files = sorted(root.glob("models/**/*.yaml")) + sorted(root.glob("derivations/*.yaml"))
    assert len(files) > 10
    for path in files:
        parser = readers._loader()(path.read_text())
        try:
            node = parser.get_single_node()
        finally:
            parser.dispose()
        readers._plainly_fine(node, readers._max_digits())      # raises _Doubt where it would not answer
