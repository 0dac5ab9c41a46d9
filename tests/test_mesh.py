"""Logical meshes on physical topologies: slices, wraparound, M, and one-line refusals."""

import pytest

from symroof.io.catalog import load_chip
from symroof.errors import InfeasibleError
from symroof.parallel.topology import Physical, axes_of, effective_m, layout, placements, slices, wrap_rule


@pytest.fixture(scope="module")
def v5p():
    return load_chip("tpu-v5p")


def test_full_v5p_pod_fsdp_spans_three_wrapping_axes(v5p):
    # 16x20x28 = 8960 chips; every side is a multiple of the 4x4x4 cube, so all three axes wrap
    axes = layout(v5p, {"fsdp": 8960})
    assert axes["fsdp"].n_physical == 3 and axes["fsdp"].wrap and axes["fsdp"].link == "ici"
    assert effective_m(axes["fsdp"]) == 3


def test_fsdp_tp_split_counts_physical_axes(v5p):
    # 2240 x 4 on 140 whole cubes: a slice such as 4x40x56 gives tensor a whole 4-long axis,
    # which wraps (optical links close every axis of a whole-cube slice); fsdp spans the other two
    axes = layout(v5p, {"fsdp": 2240, "tensor": 4})
    assert axes["fsdp"].size * axes["tensor"].size == 8960
    assert axes["tensor"].n_physical == 1 and axes["tensor"].wrap
    assert axes["fsdp"].n_physical == 2 and axes["fsdp"].wrap


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


def test_2048_by_4_is_a_slice_of_whole_cubes(v5p):
    # 8192 chips = 128 of the 140 4x4x4 cubes, e.g. 16x16x32: any arrangement of whole cubes is a slice
    sides = {tuple(p.size for p in box) for box in slices(v5p, 8192)}
    assert (16, 16, 32) in sides and all(s % 4 == 0 for box in sides for s in box)
    axes = layout(v5p, {"fsdp": 2048, "tensor": 4})
    assert axes["fsdp"].wrap and axes["tensor"].wrap


def test_sub_cube_slices_and_shapes_the_hardware_does_not_build(v5p):
    # below one cube: boxes whose sides divide the cube edge, without wraparound
    assert {tuple(p.size for p in b) for b in slices(v5p, 8)} == {(1, 2, 4), (2, 2, 2)}
    assert not any(p.ring for b in slices(v5p, 8) for p in b)
    assert slices(v5p, 48) == []                 # neither whole cubes nor inside one cube
    assert slices(v5p, 8960 + 64) == []          # more cubes than the pod has
    assert layout(v5p, {"data": 1})["data"].size == 1


def test_largest_slice_is_a_card_number(v5p):
    from dataclasses import replace

    small = replace(v5p, max_slice_chips=4096)
    assert slices(small, 8192) == [] and slices(small, 4096)
    with pytest.raises(InfeasibleError, match="largest tpu-v5p slice"):
        layout(small, {"fsdp": 8192})


def test_v5e_slices_are_2d_boxes_up_to_16x16():
    v5e = load_chip("tpu-v5e")
    assert {tuple(p.size for p in b) for b in slices(v5e, 64)} == {(4, 16), (16, 4), (8, 8)}
    assert slices(v5e, 512) == []
    assert [p.ring for p in slices(v5e, 256)[0]] == [True, True]


def test_gpu_partial_nvlink_domains():
    from symroof.io.chips import override_chip

    nvl72 = override_chip(load_chip("h100-sxm"), {"pod_shape": "72"})
    (only,) = slices(nvl72, 64)                  # 64 GPUs of one 72-GPU domain: all NVLink
    assert only == (Physical(64, "ici", True, switched=True),)      # an NVLink domain is a switch
    laid = layout(nvl72, {"fsdp": 8, "tensor": 8})
    assert laid["fsdp"].link == "ici" and laid["fsdp"].switched
    assert not any(a.switched for a in layout(load_chip("tpu-v5e"), {"fsdp": 16, "tensor": 16}).values())
    h100 = load_chip("h100-sxm")
    domains = [tuple((p.size, p.link) for p in b) for b in slices(h100, 16)]
    assert domains == [((8, "ici"), (2, "dcn")), ((4, "ici"), (4, "dcn")), ((2, "ici"), (8, "dcn"))]


def test_too_many_chips_for_one_pod_needs_a_pod_axis(v5p):
    with pytest.raises(InfeasibleError, match="add a 'pod' axis"):
        layout(v5p, {"fsdp": 17920})


def test_unknown_axis_is_one_line(v5p):
    with pytest.raises(InfeasibleError, match="unknown mesh axis 'model'"):
        layout(v5p, {"model": 8960})


def test_placements_use_the_whole_box():
    box = (Physical(4, "ici", True), Physical(4, "ici", True))
    found = list(placements(box, ("fsdp", "tensor"), (8, 2)))
    assert found and all(f["fsdp"][0] * f["tensor"][0] == 4 and f["fsdp"][1] * f["tensor"][1] == 4
                         for f in found)
    assert list(placements(box, ("fsdp", "tensor"), (8, 4))) == []


def test_the_placement_kept_among_equals_does_not_depend_on_string_hashing():
    """Placements with the same bandwidth on every axis are interchangeable for the step time;
    which one is reported (physical axes, wrap) must not change between processes, whose string
    hashes (and so set orders) differ. Three hash seeds, one enumeration each."""
    import os
    import subprocess
    import sys

    code = ("from symroof.io.catalog import load_chip, load_model\n"
            "from symroof.search import candidates as c\n"
            "card, chip = load_model('llama3-8b'), load_chip('tpu-v5e')\n"
            "inner = ('fsdp', 'seq', 'tensor')\n"
            "k = c._enumerate('fsdp_tp_seq', inner, card, chip, 256, None, 256, 4096, {}, False, None, 0.5,"
            " {a: 1 for a in inner})\n"
            "print(sorted(zip(*[k.degrees[a] for a in k.axes], *[k.n_phys[a] for a in k.axes],"
            " *[k.wraps[a] for a in k.axes])))\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1 and len(outs.pop()) > 100


@pytest.mark.parametrize("chip_name, per_slice, inner, degrees", [
    ("tpu-v5p", 4096, ("fsdp", "seq", "tensor"), (64, 8, 8)),
    ("tpu-v5p", 8192, ("stage", "fsdp", "tensor"), (4, 256, 8)),
    ("tpu-v5p", 512, ("fsdp", "expert", "tensor"), (8, 8, 8)),
    ("tpu-v5p", 32, ("fsdp", "tensor"), (8, 4)),                # a sub-cube slice
    ("tpu-v5e", 256, ("fsdp", "seq", "tensor"), (16, 1, 16)),     # an axis of degree one
    ("tpu-v6e", 128, ("fsdp", "tensor"), (32, 4)),                # a 2D slice
    ("tpu-v4", 2048, ("data", "fsdp", "tensor"), (2, 128, 8)),
])
def test_the_searchs_placements_are_the_undominated_ones_of_every_placement(chip_name, per_slice, inner, degrees):
    """search/candidates.placed prunes and shares work (alike axes, used-up axes, degree-one axes);
    what it keeps must be what a plain walk over every placement of every slice
    (topology.placements and axes_of) keeps: per axis the link and bandwidth multiple, no
    placement slower on every axis than another."""
    from symroof.search.candidates import placed

    chip = load_chip(chip_name)
    every = set()
    for box in slices(chip, per_slice):
        for p in placements(box, inner, degrees):
            axes = axes_of(box, p, dict(zip(inner, degrees)))
            every.add(tuple((axes[n].link, float(effective_m(axes[n]))) for n in inner))
    best = {r for r in every if not any(o != r and all(a[0] == b[0] and a[1] >= b[1] for a, b in zip(o, r))
                                        for o in every)}
    assert best, "the walk found no placement"
    assert {tuple((a[0], a[1]) for a in r) for r in placed(chip, per_slice, inner, degrees)} == best
