"""The full-attention graph made from the causal one's (core/full_attention.py) against the graph built op
by op (graph._made), attribute for attribute, on every model card, every config.json under tests/data/hf,
every published run's structure and the attention variants the cards may lack; and the hand count it must
keep: an unmasked attention core is twice the causal one (QK^T and AV, 2·B·T·T·N·H FLOPs each per layer)."""

from pathlib import Path

import pytest

from symroof.claims.published import load_runs
from symroof.core import derive, graph
from symroof.core.blocks import Block
from symroof.core.full_attention import rescored
from symroof.core.graph import Structure, build
from symroof.core.symbols import B, H, N, T, layers
from symroof.io.catalog import list_cards, load_model

HF = Path(__file__).parent / "data" / "hf"


def _structures() -> dict:
    out = {}
    for name in list_cards()["models"]:
        card = load_model(name)
        out[name] = Structure.of(card)
        out[f"{name} at 8 tokens"] = Structure.of(card, 8)       # windows and chunks that cover the context
    for path in sorted(HF.glob("*/config.json")):
        card = load_model(str(path))
        out[path.parent.name] = Structure.of(card)
        out[f"{path.parent.name} at 8 tokens"] = Structure.of(card, 8)
    for run in load_runs():
        out.setdefault(repr(run.structure), run.structure)
    for flags in ({"sliding": True}, {"chunked": True}, {"mla": True, "q_lora": True, "indexed": True},
                  {"linear": True}, {"ssm": True, "mlp": False}, {"dropout": True}):
        out[str(flags)] = Structure((Block(**flags),))
    return out


STRUCTURES = _structures()


def _same(made, derived) -> None:
    assert list(made.nodes) == list(derived.nodes)
    for name, d in made.nodes(data=True):
        e = derived.nodes[name]
        assert list(d) == list(e), name
        for key, value in d.items():
            assert value == e[key], (name, key, value, e[key])
    assert list(made.edges(data=True)) == list(derived.edges(data=True))
    assert made.graph == derived.graph


@pytest.mark.parametrize("phase", ["train", "prefill"])
@pytest.mark.parametrize("kernel", ["fused", "eager"])
def test_rescored_is_the_graph_built_op_by_op(phase, kernel):
    for name, structure in STRUCTURES.items():
        made = graph._made(structure, "full", kernel, phase)
        try:
            _same(made, graph.build(structure, "full", kernel, phase))
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from None


def test_the_full_core_is_twice_the_causal_one_by_hand():
    # one uniform layer type (count L): QK^T and AV each 2·B·T·T·N·H per layer, all of it unmasked
    structure = Structure.uniform()
    L = layers("layer")
    assert derive.attention_core(build(structure, "full")) == 4 * B * T**2 * N * H * L
    assert derive.attention_core(build(structure, "causal")) == 2 * B * T**2 * N * H * L


def test_rescored_refuses_what_it_cannot_make():
    with pytest.raises(ValueError):
        rescored(build(Structure(), "full"), "fused")
    with pytest.raises(ValueError):
        rescored(build(Structure(), "causal", phase="decode"), "fused")
