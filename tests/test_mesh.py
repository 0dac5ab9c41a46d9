"""Logical meshes on physical topologies: slices, wraparound, M, and one-line refusals."""

import pytest

from symroof.io.catalog import load_chip
from symroof.errors import InfeasibleError
from symroof.parallel.topology import Physical, effective_m, layout, placements, slices, wrap_rule


@pytest.fixture(scope="module")
def v5p():
    return load_chip("tpu-v5p")


def test_full_v5p_pod_fsdp_spans_three_wrapping_axes(v5p):
    # 16x20x28 = 8960 chips; every side is a multiple of the 4x4x4 cube, so all three axes wrap
    axes = layout(v5p, {"fsdp": 8960})
    assert axes["fsdp"].n_physical == 3 and axes["fsdp"].wrap and axes["fsdp"].link == "ici"
    assert effective_m(axes["fsdp"]) == 3


def test_fsdp_tp_split_counts_physical_axes(v5p):
    # 2240 x 4: 4 is a part of one axis (a line, not a ring) or 2x2 over two axes
    axes = layout(v5p, {"fsdp": 2240, "tensor": 4})
    assert axes["fsdp"].size * axes["tensor"].size == 8960
    assert 1 <= axes["tensor"].n_physical <= 2 and not axes["tensor"].wrap
    assert axes["fsdp"].n_physical == 3


def test_wraparound_rules_per_card(v5p):
    assert wrap_rule(v5p, (4, 4, 8)) == (True, True, True)        # whole cubes
    assert wrap_rule(v5p, (2, 4, 4)) == (False, False, False)     # not whole cubes
    v5e = load_chip("tpu-v5e")
    assert wrap_rule(v5e, (16, 8)) == (True, False)                # full_axis: only 16-long axes wrap
    h100 = load_chip("h100-sxm")
    assert wrap_rule(h100, (8,)) == (True,)                        # switched NVLink


def test_gpu_nvlink_domain_then_scale_out():
    h100 = load_chip("h100-sxm")
    axes = layout(h100, {"fsdp": 128, "tensor": 8})
    assert axes["tensor"].link == "ici"          # the 8 GPUs of one NVLink domain
    assert axes["fsdp"].link == "dcn"            # across nodes
    assert layout(h100, {"fsdp": 1024})["fsdp"].link == "dcn"


def test_pods_add_an_outer_dcn_axis(v5p):
    axes = layout(v5p, {"pod": 2, "fsdp": 8960}, chips=17920)
    assert list(axes) == ["pod", "fsdp"] and axes["pod"].link == "dcn"


def test_degrees_must_multiply_to_the_chips(v5p):
    with pytest.raises(InfeasibleError, match="uses 8000 chips, but the job has 8960"):
        layout(v5p, {"fsdp": 1000, "tensor": 8}, chips=8960)


def test_2048_by_4_is_not_a_slice_of_a_v5p_pod(v5p):
    # 8192 = 2^13: a box with sides <= 16, 20, 28 made of powers of two is at most 16^3 = 4096
    with pytest.raises(InfeasibleError, match="does not fit"):
        layout(v5p, {"fsdp": 2048, "tensor": 4})


def test_too_many_chips_for_one_pod_needs_a_pod_axis(v5p):
    with pytest.raises(InfeasibleError, match="add a 'pod' axis"):
        layout(v5p, {"fsdp": 17920})


def test_unknown_axis_is_one_line(v5p):
    with pytest.raises(InfeasibleError, match="unknown mesh axis 'model'"):
        layout(v5p, {"model": 8960})


def test_slices_are_boxes_inside_the_pod(v5p):
    for box in slices(v5p, 8960):
        sides = [p.size for p in box]
        assert all(s <= m for s, m in zip(sides, (16, 20, 28)))
        n = sides[0] * sides[1] * sides[2]
        assert 0.4 * 8960 <= n <= 8960


def test_placements_use_the_whole_box():
    box = (Physical(4, "ici", True), Physical(4, "ici", True))
    found = list(placements(box, ("fsdp", "tensor"), (8, 2)))
    assert found and all(f["fsdp"][0] * f["tensor"][0] == 4 and f["fsdp"][1] * f["tensor"][1] == 4
                         for f in found)
    assert list(placements(box, ("fsdp", "tensor"), (8, 4))) == []
