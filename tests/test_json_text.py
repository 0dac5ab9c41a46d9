"""report/json_text.dumps against the standard library's ``json.dumps(obj, indent=2)``: the same text
(tolerance: none, byte for byte), on the documents the commands print and on the edge cases (empty
containers, NaN and the infinities, -0.0, non-ASCII and escaped strings, tuples, keys that are
not strings, subclasses), and the same errors where json refuses."""

import json

import pytest

from symroof.report.json_text import dumps


class _Text(str):
    pass


CASES = [
    {}, [], (), "", 0, -0.0, 2.5, 1e300, 5e-324, None, True, False, 10**40,
    {"a": [], "b": {}, "c": [{}], "d": [[]]},
    {"x": float("nan"), "y": [float("inf"), -float("inf"), -0.0, 0.1 + 0.2]},
    {"text": "é\n\"\\\t\u2028 \U0001f600", "ü": "key not ASCII"},
    [1, {"b": (3, [], {"c": None})}, (True, False)],
    {1: 2, "s": 3}, {"a": {1.5: 2, None: 1, True: 0}},      # keys json converts itself
    {"a": _Text("a subclass")}, [_Text("x")],
]


@pytest.mark.parametrize("obj", CASES, ids=range(len(CASES)))
def test_the_same_text_as_json(obj):
    assert dumps(obj) == json.dumps(obj, indent=2)


def test_a_validate_document():
    from symroof.claims.published import as_json, validate

    doc = as_json(*validate())
    assert dumps(doc) == json.dumps(doc, indent=2)


def test_json_s_errors():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(loop)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": object()})
