"""Chip cards: a chip and its interconnect as the source states them, checked strictly.

Numbers are read exactly (``"4.59e14"`` is the integer 459000000000000); the engine derives
what the book's formulas use (``ChipCard.ici_bidi_bytes_per_s``) from what the vendor states.
``--set KEY=VALUE`` overrides any number (``override_chip``), and the card then says so.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field, fields, replace
from fractions import Fraction

from ..errors import CardError
from .cards import (_NUMBER, _PRINTABLE, MAX_COUNT, _check_keys, _count, _positive_int, _positive_number,
                    parse_number, shown_text)

@dataclass(frozen=True)
class ChipCard:
    """A chip and its interconnect, as the source states them. Numbers are exact ``Fraction``s."""

    name: str
    family: str                          # "tpu" or "gpu"
    peak_flops_per_s: dict               # dtype -> FLOPs/s per chip; "bf16" is required
    hbm_bytes: Fraction                  # HBM capacity per chip
    hbm_bytes_per_s: Fraction
    ici_link_bytes_per_s: Fraction       # one link (TPU ICI) or one GPU's NVLink, as stated
    ici_link_direction: str              # "one_way" or "bidirectional": how the source states it
    ici_links_per_axis: int              # links a chip uses along one torus axis (2 in a ring)
    pod_shape: tuple                     # TPU: torus axis sizes; GPU: (NVLink domain size,)
    wraparound: str                      # "full_cube", "full_axis", "always" (switched) or "none"
    wraparound_unit: int                 # cube edge (v4/v5p: 4) or full axis length (v5e/v6e: 16)
    dcn_bytes_per_s_per_host: Fraction   # scale-out bandwidth of one host, one direction
    chips_per_host: int
    sources: dict = field(default_factory=dict)   # key -> where the number comes from
    ici_hop_latency_s: Fraction | None = None     # optional: per-hop latency (the book's T_min)
    ici_scope: str = "link"              # "link": the ICI number is one link's; "chip": all the chip's links together
    max_slice_chips: int | None = None            # optional: the operator's largest single slice (TPU)
    # Optional, for the step model (parallel/step_model.py); absent = the ideal limit.
    matrix_unit: tuple | None = None              # output tile of one matrix unit, (m, n)
    matrix_units: int | None = None               # matrix units working on tiles at once
    attention_efficiency: Fraction | None = None  # attention kernel's fraction of peak
    attention_kernels: dict = field(default_factory=dict)   # other fused kernels by name -> fraction of peak
    collective_launch_s: Fraction | None = None   # fixed cost of launching one collective
    dcn_step_latency_s: Fraction | None = None    # one ring step on the scale-out network (else calibrated)
    collective_matmul: bool = False               # the compiler overlaps ICI activation collectives with their matmul
    overlap_fraction: dict = field(default_factory=dict)    # link -> share of weight/gradient traffic hidden
    calibration: dict | None = None               # eta_mm, t_dcn, eta_mem and the data they were fitted on
    calibrated_as: str | None = None              # another card whose calibration this one takes (catalog.py)
    path: str = ""
    modified: tuple = ()                 # ("key=value", ...) changed by --set: the card is not the file's

    @property
    def pod_chips(self) -> int:
        total = 1
        for size in self.pod_shape:
            total *= size
        return total

    @property
    def links_per_chip(self) -> int:
        """ICI links of one chip: two per torus axis on a TPU, one switched "link" on a GPU."""
        return self.ici_links_per_axis * (len(self.pod_shape) if self.family == "tpu" else 1)

    @property
    def ici_one_way_link_bytes_per_s(self) -> Fraction:
        """One link, one direction: the vendor's number divided as ``ici_scope`` and the direction say."""
        one_way = (self.ici_link_bytes_per_s if self.ici_link_direction == "one_way"
                   else self.ici_link_bytes_per_s / 2)
        return one_way / self.links_per_chip if self.ici_scope == "chip" else one_way

    @property
    def ici_bidi_bytes_per_s(self) -> Fraction:
        """Bytes/s a chip sends along one mesh axis with wraparound (the book's ``W_ici``)."""
        return self.ici_one_way_link_bytes_per_s * self.ici_links_per_axis

    @property
    def label(self) -> str:
        """The name, and what ``--set`` changed: ``tpu-v5p (modified: hbm_bytes_per_s=3e12)``."""
        return f"{self.name} (modified: {', '.join(self.modified)})" if self.modified else self.name

    @property
    def dcn_bytes_per_s_per_chip(self) -> Fraction:
        return self.dcn_bytes_per_s_per_host / self.chips_per_host


_CHIP_REQUIRED = ("name", "family", "peak_flops_per_s", "hbm_bytes", "hbm_bytes_per_s",
                  "ici_link_bytes_per_s", "ici_link_direction", "ici_links_per_axis", "pod_shape",
                  "wraparound", "wraparound_unit", "dcn_bytes_per_s_per_host", "chips_per_host",
                  "sources")
_CHIP_CHOICES = {"family": ("tpu", "gpu"), "ici_link_direction": ("one_way", "bidirectional"),
                 "wraparound": ("full_cube", "full_axis", "always", "none")}
_OPTIONAL_CHOICES = {"ici_scope": ("link", "chip")}
# Math dtypes a card may give a peak for; a run picks one (--dtype), bf16 by default.
DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp32")
# The keys `--set KEY=VALUE` may override (numbers only).
CHIP_NUMBER_KEYS = ("hbm_bytes", "hbm_bytes_per_s", "ici_link_bytes_per_s", "ici_links_per_axis",
                    "wraparound_unit", "dcn_bytes_per_s_per_host", "chips_per_host", "ici_hop_latency_s",
                    "max_slice_chips")
# Every key `--set` may change (any command that takes a chip card): numbers, peaks, the pod, how the ICI is stated.
CHIP_SET_KEYS = (CHIP_NUMBER_KEYS + tuple(f"peak_flops_per_s.{dt}" for dt in DTYPES)
                 + ("pod_shape", "ici_scope", "ici_link_direction"))
_INT_KEYS = ("ici_links_per_axis", "wraparound_unit", "chips_per_host", "max_slice_chips")
# A pod (one ICI or NVLink domain) is a handful of axes; the largest built hold about 10^4 chips
# (v5p: 8960), so 10^6 in all is a wide margin and still a pod plan's --chips can cover. Bounding
# the product, not each axis: a 10^6 x 10^6 x 10^6 pod overflowed numpy and its slices never finished.
MAX_POD_AXES, MAX_POD_CHIPS = 4, 10 ** 6


_CHIP_OPTIONAL_CITABLE = ("ici_hop_latency_s", "matrix_unit", "matrix_units", "attention_efficiency",
                          "collective_launch_s", "dcn_step_latency_s", "collective_matmul")
_CALIBRATION_KEYS = ("eta_mm", "t_dcn", "data", "fit_runs", "note")
_CALIBRATION_OPTIONAL = ("eta_mem", "held_out", "other_sources", "constant_mfu",   # eta_mem: a block written before it existed: 1
                         "constant_mfu_by_matmul_dtype")
# held_out: how far the calibrated model was from the data's check rows (calibrate.held_out);
# other_sources: the same, each source's rows predicted by a fit on the other sources (across_sources.py);
# constant_mfu: the constant-MFU baseline fitted on the same rows, for data with no fit rows of its own
# (rows with BF16 matmuls, all rows where none; constant_mfu_by_matmul_dtype: {fp8: ...} that of the others)
_HELD_OUT_COUNTS, _HELD_OUT_ERRORS = ("runs", "step_runs"), ("mfu_error_median", "mfu_error_max",
                                                            "step_error_median", "step_error_max")


def _calibration(raw, where: str) -> dict:
    """The fitted step-model numbers and where they came from (``symroof calibrate`` writes it)."""
    if not isinstance(raw, dict):
        raise CardError(f"{where}: key 'calibration' must be a mapping with {', '.join(_CALIBRATION_KEYS)}")
    _check_keys(raw, set(_CALIBRATION_KEYS + _CALIBRATION_OPTIONAL), _CALIBRATION_KEYS, f"{where}: calibration")
    out = {}
    for key in ("eta_mm", "eta_mem", "constant_mfu"):
        if key in raw:
            out[key] = _positive_number(raw[key], where, f"calibration.{key}")
            if out[key] > 1:
                raise CardError(f"{where}: key 'calibration.{key}' must be a fraction in (0, 1]")
    out["t_dcn"] = parse_number(raw["t_dcn"], where, "calibration.t_dcn")
    if not 0 <= out["t_dcn"] <= 1:
        raise CardError(f"{where}: key 'calibration.t_dcn' must be seconds in [0, 1]")
    runs = raw["fit_runs"]
    if not isinstance(runs, list) or not runs or not all(isinstance(r, str) and r for r in runs):
        raise CardError(f"{where}: key 'calibration.fit_runs' must list the names of the runs the numbers were "
                        f"fitted on, got {shown_text(repr(runs))}")
    for key in ("data", "note"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise CardError(f"{where}: key 'calibration.{key}' must be text (the runs file; how the numbers were "
                            f"fitted), got {shown_text(repr(raw[key]))}")
    out.update(data=raw["data"], fit_runs=tuple(runs), note=raw["note"])
    for name in ("held_out", "other_sources"):
        if name in raw:
            out[name] = _error_record(raw[name], where, name)
    if "constant_mfu_by_matmul_dtype" in raw:
        key, got = "calibration.constant_mfu_by_matmul_dtype", raw["constant_mfu_by_matmul_dtype"]
        if not isinstance(got, dict) or not all(isinstance(k, str) and k in DTYPES for k in got):
            raise CardError(f"{where}: key '{key}' must map dtypes ({', '.join(DTYPES)}) to fractions in (0, 1]")
        out["constant_mfu_by_matmul_dtype"] = {k: _positive_number(v, where, f"{key}.{k}") for k, v in got.items()}
        if any(v > 1 for v in out["constant_mfu_by_matmul_dtype"].values()):
            raise CardError(f"{where}: key '{key}' must map dtypes to fractions in (0, 1]")
    return out


def _error_record(raw, where: str, name: str) -> dict:
    """The errors a calibration records on runs outside its fit (``held_out``: the check rows;
    ``other_sources``: each source's rows, fitted without them, with the count of sources too):
    counts, and errors as non-negative fractions."""
    key = f"calibration.{name}"
    sources = ("sources",) if name == "other_sources" else ()
    counts = _HELD_OUT_COUNTS + sources
    if not isinstance(raw, dict):
        raise CardError(f"{where}: key '{key}' must be a mapping of {', '.join(counts + _HELD_OUT_ERRORS)}")
    _check_keys(raw, set(counts + _HELD_OUT_ERRORS), ("runs", *sources, "mfu_error_median", "mfu_error_max"),
                f"{where}: {key}")
    out = {}
    for entry, value in raw.items():
        if entry in counts:
            out[entry] = _count(value, where, f"{key}.{entry}")
        else:
            number = parse_number(value, where, f"{key}.{entry}")
            # an MFU error is a fraction of peak (at most 1); a step can be off by more than itself
            top = 1 if entry.startswith("mfu") else MAX_COUNT
            if not 0 <= number <= top:
                raise CardError(f"{where}: key '{key}.{entry}' must be a fraction from 0 to {top}, got {value!r}")
            out[entry] = float(number)
    if ("step_runs" in out) != ("step_error_median" in out) or ("step_runs" in out) != ("step_error_max" in out):
        raise CardError(f"{where}: key '{key}' gives step_runs, step_error_median and step_error_max together or none")
    for what in ("mfu", "step"):
        if out.get(f"{what}_error_median", 0) > out.get(f"{what}_error_max", 0):
            raise CardError(f"{where}: key '{key}.{what}_error_median' is above {what}_error_max")
    if out.get("step_runs", 0) > out["runs"]:
        raise CardError(f"{where}: key '{key}.step_runs' is above runs (the step rows are some of the runs scored)")
    if out.get("sources", 0) > out["runs"]:
        raise CardError(f"{where}: key '{key}.sources' is above runs (each source scored has a run)")
    return out


# Names a run's attention_kernel already gives a meaning (published runs: the card's default fused
# kernel, or the T x S scores through HBM); a card's other kernels need other names.
RESERVED_KERNELS = ("fused", "eager")


def _attention_kernels(raw, where: str) -> dict:
    """Other fused attention kernels than the card's default, each a fraction of peak: one chip
    runs a 2023 kernel at a third of what a 2024 one reaches (FlashAttention-2 and -3 on H100)."""
    if not isinstance(raw, dict) or not raw:
        raise CardError(f"{where}: key 'attention_kernels' must map kernel names to fractions of peak")
    out = {}
    for name, value in raw.items():
        key = f"attention_kernels.{name}"
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_KERNELS:
            raise CardError(f"{where}: key '{key}' must be a name (letters, digits, _) other than "
                            f"{', '.join(RESERVED_KERNELS)}")
        out[name] = _positive_number(value, where, key)
        if out[name] > 1:
            raise CardError(f"{where}: key '{key}' must be a fraction in (0, 1]")
    return out


_LINK_CLASSES = ("ici", "dcn")


def _overlap_fraction(raw, where: str) -> dict:
    """Per link class, the share of the background traffic (weight gathers, gradient reductions)
    that hides behind compute; the rest waits. Absent: 1, the book's full overlap."""
    if not isinstance(raw, dict) or not raw:
        raise CardError(f"{where}: key 'overlap_fraction' must map link classes ({', '.join(_LINK_CLASSES)}) "
                        f"to fractions in [0, 1]")
    out = {}
    for link, value in raw.items():
        key = f"overlap_fraction.{link}"
        if link not in _LINK_CLASSES:
            raise CardError(f"{where}: key '{key}' names no link class; allowed: {', '.join(_LINK_CLASSES)}")
        out[link] = parse_number(value, where, key)
        if not 0 <= out[link] <= 1:
            raise CardError(f"{where}: key '{key}' must be a fraction in [0, 1]")
    return out


def chip_from_dict(raw: dict, where: str) -> ChipCard:
    allowed = {f.name for f in fields(ChipCard)} - {"path"}
    _check_keys(raw, allowed, _CHIP_REQUIRED, where, extra_allowed={"kind"})
    values: dict = {}
    for key, choices in _CHIP_CHOICES.items():
        if raw[key] not in choices:
            raise CardError(f"{where}: key '{key}' is {raw[key]!r}; allowed: {', '.join(choices)}")
        values[key] = raw[key]
    for key, choices in _OPTIONAL_CHOICES.items():
        if key in raw:
            if raw[key] not in choices:
                raise CardError(f"{where}: key '{key}' is {raw[key]!r}; allowed: {', '.join(choices)}")
            values[key] = raw[key]
    for key in ("name", "calibrated_as"):      # calibrated_as: resolved by catalog.load_chip
        if key in raw and (not isinstance(raw[key], str) or not raw[key] or not raw[key].isprintable()):
            raise CardError(f"{where}: key '{key}' must be a non-empty string{_PRINTABLE['name']}")
    values.update((key, raw[key]) for key in ("name", "calibrated_as") if key in raw)
    flops = raw["peak_flops_per_s"]
    if not isinstance(flops, dict) or "bf16" not in flops:
        raise CardError(f"{where}: key 'peak_flops_per_s' must map dtypes to FLOPs/s and include 'bf16'")
    unknown = [str(dt) for dt in flops if str(dt) not in DTYPES]
    if unknown:
        raise CardError(f"{where}: key 'peak_flops_per_s.{unknown[0]}' names no dtype; allowed: {', '.join(DTYPES)}")
    values["peak_flops_per_s"] = {str(dt): _positive_number(v, where, f"peak_flops_per_s.{dt}")
                                  for dt, v in flops.items()}
    for key in ("hbm_bytes", "hbm_bytes_per_s", "ici_link_bytes_per_s", "dcn_bytes_per_s_per_host"):
        values[key] = _positive_number(raw[key], where, key)
    for key in ("ici_hop_latency_s", "attention_efficiency", "collective_launch_s", "dcn_step_latency_s"):
        if key in raw:
            values[key] = _positive_number(raw[key], where, key)
    if values.get("dcn_step_latency_s", 0) > 1:
        raise CardError(f"{where}: key 'dcn_step_latency_s' must be seconds in (0, 1]")
    if values.get("attention_efficiency", 0) > 1:
        raise CardError(f"{where}: key 'attention_efficiency' must be a fraction in (0, 1]")
    if "attention_kernels" in raw:
        values["attention_kernels"] = _attention_kernels(raw["attention_kernels"], where)
    if "matrix_units" in raw:
        values["matrix_units"] = _count(raw["matrix_units"], where, "matrix_units")
    if "matrix_unit" in raw:
        tile = raw["matrix_unit"]
        if not isinstance(tile, list) or len(tile) != 2:
            raise CardError(f"{where}: key 'matrix_unit' must be [m, n], the output tile of one matrix unit")
        values["matrix_unit"] = tuple(_count(t, where, "matrix_unit") for t in tile)
    if "collective_matmul" in raw:
        if not isinstance(raw["collective_matmul"], bool):
            raise CardError(f"{where}: key 'collective_matmul' must be true or false")
        values["collective_matmul"] = raw["collective_matmul"]
    if "overlap_fraction" in raw:
        values["overlap_fraction"] = _overlap_fraction(raw["overlap_fraction"], where)
    if "calibration" in raw:
        values["calibration"] = _calibration(raw["calibration"], where)
    for key in _INT_KEYS:
        if key in raw:
            values[key] = _count(raw[key], where, key)
    shape = raw["pod_shape"]
    if not isinstance(shape, list) or not shape:
        raise CardError(f"{where}: key 'pod_shape' must be a list of axis sizes, e.g. [16, 20, 28]")
    values["pod_shape"] = _pod_shape([_positive_int(s, where, "pod_shape") for s in shape], where, raw["family"])
    if not isinstance(raw["sources"], dict):
        raise CardError(f"{where}: key 'sources' must map card keys to where each number comes from")
    # A source filed under a misspelt key would document nothing; only card keys may carry one.
    citable = ((set(_CHIP_REQUIRED) - {"name", "sources"}) | set(_CHIP_OPTIONAL_CITABLE) | {"ici_scope", "max_slice_chips"}
               | {f"peak_flops_per_s.{dt}" for dt in flops}
               | {f"attention_kernels.{name}" for name in values.get("attention_kernels", ())}
               | {f"overlap_fraction.{link}" for link in values.get("overlap_fraction", ())})
    for key in raw["sources"]:
        if str(key) not in citable:
            raise CardError(f"{where}: key 'sources.{key}' names no card key; allowed: {', '.join(sorted(citable))}")
        if not isinstance(raw["sources"][key], str) or not raw["sources"][key].strip():
            raise CardError(f"{where}: key 'sources.{key}' must say where the number comes from, in words, "
                            f"got {shown_text(repr(raw['sources'][key]))}")
    values["sources"] = {str(key): text for key, text in raw["sources"].items()}
    return _check_max_slice(_check_cubes(ChipCard(**values, path=where), where), where)


def override_chip(chip: ChipCard, settings: dict[str, str]) -> ChipCard:
    """Apply ``--set KEY=VALUE`` overrides: new hardware without writing a card."""
    changes: dict = {}
    flops = dict(chip.peak_flops_per_s)
    choices = {**_OPTIONAL_CHOICES, "ici_link_direction": _CHIP_CHOICES["ici_link_direction"]}
    allowed = CHIP_SET_KEYS
    for key, text in settings.items():
        where = f"--set {key}"
        if key.startswith("peak_flops_per_s.") and key.split(".", 1)[1] in DTYPES:
            flops[key.split(".", 1)[1]] = _positive_number(text, where, key)
        elif key in choices:
            if text not in choices[key]:
                raise CardError(f"{where}: {text!r} is not allowed; allowed: {', '.join(choices[key])}")
            changes[key] = text
        elif key in _INT_KEYS:
            changes[key] = _int_setting(text, where, key)
        elif key in CHIP_NUMBER_KEYS:
            changes[key] = _positive_number(text, where, key)
        elif key == "pod_shape":
            parts = text.replace("x", ",").split(",")
            if not all(_NUMBER.match(p.strip().removeprefix("-")) for p in parts):
                raise CardError(f"{where}: key 'pod_shape' must be axis sizes, e.g. pod_shape=16x20x28, "
                                f"got {shown_text(text)}")
            changes[key] = _pod_shape([_int_setting(p, where, key) for p in parts], where, chip.family)
        else:
            raise CardError(f"--set: unknown chip key {key!r}; allowed: {', '.join(allowed)}")
    modified = chip.modified + tuple(f"{k}={v}" for k, v in settings.items())
    out = replace(chip, peak_flops_per_s=flops, modified=modified, **changes)
    cube = [k for k in ("pod_shape", "wraparound_unit") if k in settings]
    out = _check_cubes(out, f"--set {cube[0]}") if cube else out
    # a new pod or cube edge can unmake the file's largest slice: name the --set that did
    culprit = [k for k in ("max_slice_chips", "pod_shape", "wraparound_unit") if k in settings]
    return _check_max_slice(out, f"--set {culprit[0]}") if culprit else out


def origin(chip: ChipCard, key: str) -> str:
    """Where the card's ``key`` came from, for an error line: the ``--set`` that changed it, or the file."""
    return f"--set {key}" if any(m.split("=", 1)[0] == key for m in chip.modified) else chip.path


def _check_cubes(chip: ChipCard, where: str) -> ChipCard:
    """A ``full_cube`` pod is whole cubes: a side that is no multiple of the edge leaves the pod no
    slice of its own (cards said only "8960 chips do not fit the tpu-v5p topology")."""
    u, shape = chip.wraparound_unit, "x".join(map(str, chip.pod_shape))
    if chip.family == "tpu" and chip.wraparound == "full_cube" and any(side % u for side in chip.pod_shape):
        raise CardError(f"{where}: keys 'pod_shape' ({shape}) and 'wraparound_unit' ({u}) disagree: a full_cube pod "
                        f"is whole cubes of edge {u}, so every side must be a multiple of {u}")
    return chip


def _check_max_slice(chip: ChipCard, where: str) -> ChipCard:
    """The largest slice must be one the pod can build: a larger one was planned as a slice the
    hardware lacks (half of 1024 v5e chips left idle), a size no box has names no slice at all."""
    n = chip.max_slice_chips
    if n is None:
        return chip
    shape = "x".join(map(str, chip.pod_shape))
    if n > chip.pod_chips:
        raise CardError(f"{where}: key 'max_slice_chips' is {n}, more than the {chip.pod_chips} chips of the "
                        f"{shape} {chip.name} pod; allowed: a slice size up to {chip.pod_chips}")
    if chip.family == "tpu":
        from ..parallel import topology

        if not topology.slices(chip, n):
            rule = topology.describe(replace(chip, max_slice_chips=None))
            raise CardError(f"{where}: key 'max_slice_chips' is {n}, the size of no {chip.name} slice; allowed: "
                            f"a slice size the pod builds ({rule})")
    return chip


def _int_setting(text: str, where: str, key: str) -> int:
    """A positive integer from ``--set`` text; an error shows the text, not the Fraction read from it."""
    number = parse_number(text, where, key)
    if number.denominator != 1 or number <= 0:
        raise CardError(f"{where}: key '{key}' must be a positive integer, got {text!r}")
    return _count(int(number), where, key)


def _pod_shape(sides: list[int], where: str, family: str) -> tuple:
    if family == "gpu" and len(sides) != 1:
        # the planner reads a GPU's pod_shape[0] alone: more axes would be printed, never planned
        raise CardError(f"{where}: key 'pod_shape' of a gpu card is one NVLink domain, its size in a list "
                        f"(e.g. [8]); got {'x'.join(map(str, sides))}")
    rule = f"{where}: key 'pod_shape' must have at most {MAX_POD_AXES} axes and at most {MAX_POD_CHIPS} chips in all"
    if len(sides) > MAX_POD_AXES:
        raise CardError(f"{rule}, got {len(sides)} axes")
    if math.prod(sides) > MAX_POD_CHIPS:
        raise CardError(f"{rule}, got {'x'.join(map(str, sides))}")
    return tuple(sides)
