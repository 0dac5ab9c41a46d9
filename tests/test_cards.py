"""The shipped model and chip cards, and the strict loader's refusals."""

from fractions import Fraction

import pytest
import yaml

from symroof.io.catalog import data_dir, list_cards, load_chip, load_model
from symroof.errors import CardError

#   card             L    D      F      N    K   H    V       E  k
MODEL_SHAPES = {
    "llama3-8b":     (32, 4096, 14336, 32, 8, 128, 128256, 1, 1),
    "llama3-70b":    (80, 8192, 28672, 64, 8, 128, 128256, 1, 1),
    "llama3.1-405b": (126, 16384, 53248, 128, 8, 128, 128256, 1, 1),
    "llama2-13b":    (40, 5120, 13824, 40, 40, 128, 32000, 1, 1),
    "mixtral-8x7b":  (32, 4096, 14336, 32, 8, 128, 32000, 8, 2),
}
SHAPE_FIELDS = ("n_layers", "d_model", "d_ff", "n_heads", "n_kv_heads", "head_dim", "vocab", "n_experts",
                "experts_per_token")

#   card        bf16 FLOPs/s        W_ici (B/s)      DCN per chip     pod shape       wraparound   unit
CHIPS = {
    "tpu-v4":   (Fraction("2.75e14"), Fraction("9e10"),   Fraction("6.25e9"),  (16, 16, 16), "full_cube", 4),
    "tpu-v5p":  (Fraction("4.59e14"), Fraction("1.8e11"), Fraction("6.25e9"),  (16, 20, 28), "full_cube", 4),
    "tpu-v5e":  (Fraction("1.97e14"), Fraction("9e10"),   Fraction("3.125e9"), (16, 16),     "full_axis", 16),
    "tpu-v6e":  (Fraction("9.2e14"),  Fraction("1.8e11"), Fraction("3.125e9"), (16, 16),     "full_axis", 16),
    "h100-sxm": (Fraction("9.89e14"), Fraction("4.5e11"), Fraction("5e10"),    (8,),         "always",    1),
    "b200":     (Fraction("2.25e15"), Fraction("9e11"),   Fraction("5e10"),    (8,),         "always",    1),
    "h200-sxm": (Fraction("9.89e14"), Fraction("4.5e11"), Fraction("5e10"),    (8,),         "always",    1),
}


def test_every_shipped_card_loads_and_is_named_after_its_file():
    names = list_cards()
    assert set(MODEL_SHAPES) <= set(names["models"])
    assert set(CHIPS) <= set(names["chips"])
    for name in names["models"]:
        assert load_model(name).name == name
    for name in names["chips"]:
        assert load_chip(name).name == name


@pytest.mark.parametrize("name", MODEL_SHAPES)
def test_model_shapes_are_exact(name):
    card = load_model(name)
    assert tuple(getattr(card, f) for f in SHAPE_FIELDS) == MODEL_SHAPES[name]
    assert all(isinstance(getattr(card, f), int) for f in SHAPE_FIELDS)
    assert (card.tie_embeddings, card.qkv_bias, card.o_bias, card.mlp_bias, card.qk_norm) == (False,) * 5
    assert card.norms_per_layer == 2
    assert card.architecture == ("mixtral" if name == "mixtral-8x7b" else "llama")
    assert card.source.startswith("https://huggingface.co/") and card.source.endswith("/config.json")


@pytest.mark.parametrize("name", CHIPS)
def test_chip_numbers_are_exact(name):
    chip = load_chip(name)
    bf16, w_ici, dcn_per_chip, shape, wrap, unit = CHIPS[name]
    assert chip.peak_flops_per_s["bf16"] == bf16
    assert chip.ici_bidi_bytes_per_s == w_ici
    assert chip.dcn_bytes_per_s_per_chip == dcn_per_chip
    assert (chip.pod_shape, chip.wraparound, chip.wraparound_unit) == (shape, wrap, unit)
    assert all(isinstance(v, Fraction) for v in chip.peak_flops_per_s.values())


def test_v5p_matches_the_book():
    chip = load_chip("tpu-v5p")
    ratio = chip.peak_flops_per_s["bf16"] / chip.ici_bidi_bytes_per_s
    assert isinstance(ratio, Fraction) and ratio == 2550
    assert chip.ici_link_bytes_per_s == Fraction(9 * 10**10) and chip.ici_link_direction == "one_way"
    assert chip.ici_links_per_axis == 2
    assert chip.pod_chips == 8960
    assert chip.hbm_bytes == 96 * 10**9 and chip.hbm_bytes_per_s == Fraction("2.8e12")
    assert chip.peak_flops_per_s["int8"] == 918 * 10**12
    assert chip.peak_flops_per_s["bf16"] * chip.chips_per_host / chip.dcn_bytes_per_s_per_host == 73440


def test_gb200_nvl72_is_the_books_72_gpu_nvlink_domain():
    """The book's gpus.md (jax-ml/scaling-book@1a55377, Appendix A): NVLink 5 at 900 GB/s per GPU,
    72 GPUs in one NVLink domain, and a 72-GPU node's egress of 4 x 18 x 400 Gb/s / 8 = 3.6 TB/s.
    NVIDIA's rack totals: 360 PFLOP/s BF16 with sparsity and 576 TB/s of HBM over 72 GPUs."""
    chip = load_chip("gb200-nvl72")
    assert chip.family == "gpu" and chip.pod_shape == (72,) and chip.pod_chips == 72
    assert chip.ici_bidi_bytes_per_s == 900 * 10**9
    assert chip.dcn_bytes_per_s_per_chip * 72 == Fraction(4 * 18 * 400 * 10**9, 8)
    assert chip.peak_flops_per_s["bf16"] * 72 * 2 == 360 * 10**15
    assert chip.hbm_bytes_per_s * 72 == 576 * 10**12
    assert all(name.startswith("dgxc-gb200-") for name in chip.calibration["fit_runs"])   # NeMo's GB200 rows


def test_b200_matches_nvidias_dgx_and_hgx_b200_totals():
    """NVIDIA's 8-GPU totals, typed from the spec pages, each over 8 GPUs (dense = sparse / 2):
    https://www.nvidia.com/en-us/data-center/hgx/ (HGX B200: FP16/BF16 36 PFLOPS with sparsity),
    https://www.nvidia.com/en-us/data-center/dgx-b200/ (DGX B200: FP8 72 PFLOPS with sparsity, 1,440 GB
    HBM3e at 64 TB/s), https://docs.nvidia.com/dgx/dgxb200-user-guide/introduction-to-dgxb200.html
    (14.4 TB/s of NVLink over 2 NVSwitches, 8 ConnectX-7 single-port 400 Gb/s cards). NVIDIA's benchmark
    recipes (NVIDIA/dgxc-benchmarking@c84bc9b README.md) divide by 2250 (BF16) and 4500 (FP8) TFLOP/s."""
    chip = load_chip("b200")
    assert chip.family == "gpu" and chip.pod_shape == (8,) and chip.chips_per_host == 8
    assert chip.peak_flops_per_s["bf16"] * 8 * 2 == 36 * 10**15
    assert chip.peak_flops_per_s["fp8"] * 8 * 2 == 72 * 10**15
    assert chip.peak_flops_per_s["bf16"] == 2250 * 10**12 and chip.peak_flops_per_s["fp8"] == 4500 * 10**12
    assert chip.hbm_bytes * 8 == 1440 * 10**9 and chip.hbm_bytes_per_s * 8 == 64 * 10**12
    # 14.4 TB/s over 8 GPUs with both directions added: 1.8 TB/s a GPU, 900 GB/s into it.
    assert chip.ici_link_bytes_per_s * 8 == Fraction("14.4e12") and chip.ici_bidi_bytes_per_s == 900 * 10**9
    assert chip.dcn_bytes_per_s_per_host == 8 * 400 * 10**9 // 8 and chip.dcn_bytes_per_s_per_chip == 50 * 10**9
    assert chip.matrix_units == 148                        # scaling-book gpus.md: "a B200 has 148" SMs


def test_h200_is_the_h100_with_hbm3e():
    """NVIDIA H200 specifications (https://www.nvidia.com/en-us/data-center/h200/, H200 SXM): 141 GB at
    4.8 TB/s, BF16 1,979 and FP8 3,958 TFLOP/s with sparsity, NVLink 900 GB/s: the H100 SXM's peaks and
    NVLink, so it takes the H100's calibration."""
    chip, h100 = load_chip("h200-sxm"), load_chip("h100-sxm")
    assert chip.hbm_bytes == 141 * 10**9 and chip.hbm_bytes_per_s == Fraction("4.8e12")
    assert chip.peak_flops_per_s["bf16"] == 989 * 10**12     # 1,979 / 2 = 989.5, kept at the H100 card's (the book's) 989
    assert chip.peak_flops_per_s["fp8"] * 2 == 3958 * 10**12
    assert chip.peak_flops_per_s == h100.peak_flops_per_s and chip.ici_bidi_bytes_per_s == 450 * 10**9
    assert chip.calibration == h100.calibration


def test_h100_nvlink_counts_one_direction_per_gpu():
    chip = load_chip("h100-sxm")
    assert chip.family == "gpu"
    # NVIDIA's 900 GB/s adds both directions; a ring collective moves data at 450 GB/s into each GPU.
    assert (chip.ici_link_bytes_per_s, chip.ici_link_direction) == (9 * 10**11, "bidirectional")
    assert chip.ici_bidi_bytes_per_s == 450 * 10**9
    assert chip.dcn_bytes_per_s_per_host == 8 * 400 * 10**9 // 8
    assert chip.peak_flops_per_s["fp8"] == chip.peak_flops_per_s["int8"] == 1979 * 10**12
    assert chip.hbm_bytes == 80 * 10**9 and chip.hbm_bytes_per_s == Fraction("3.35e12")


@pytest.mark.parametrize("name", CHIPS)
def test_every_chip_number_has_a_source(name):
    chip = load_chip(name)
    needed = {"hbm_bytes", "hbm_bytes_per_s", "ici_link_bytes_per_s", "ici_link_direction", "ici_links_per_axis",
              "pod_shape", "wraparound", "wraparound_unit", "dcn_bytes_per_s_per_host", "chips_per_host"}
    needed |= {f"peak_flops_per_s.{dtype}" for dtype in chip.peak_flops_per_s}
    assert needed <= set(chip.sources), needed - set(chip.sources)
    assert all(text.strip() for text in chip.sources.values())


# ----------------------------------------------------------------------------- refusals


def _shipped(kind: str, name: str) -> dict:
    folder = data_dir("models") / ("chips" if kind == "chip" else "")
    return yaml.safe_load((folder / f"{name}.yaml").read_text())


def _write(tmp_path, raw: dict, name: str = "card.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _refused(load, path, *words):
    with pytest.raises(CardError) as err:
        load(str(path))
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("change, words", [
    ({"n_layers": None}, ["missing key 'n_layers'"]),
    ({"n_layer": 32}, ["unknown key 'n_layer'", "allowed:"]),
    ({"d_model": "wide"}, ["'d_model'", "positive integer"]),
    ({"d_model": 0}, ["'d_model'", "positive"]),
    ({"d_ff": -14336}, ["'d_ff'", "positive"]),
    ({"n_layers": 32.0}, ["'n_layers'", "integer"]),
    ({"n_layers": 32.5}, ["'n_layers'", "integer"]),
    ({"n_heads": True}, ["'n_heads'", "integer"]),
    ({"n_kv_heads": 5}, ["'n_kv_heads'", "'n_heads'"]),
    ({"tie_embeddings": "no"}, ["'tie_embeddings'", "true or false"]),
    ({"architecture": "gpt3"}, ["'architecture'", "allowed: llama"]),
    ({"experts_per_token": 2}, ["'experts_per_token'", "'n_experts'"]),
    ({"norms_per_layer": 3}, ["'norms_per_layer'", "2 or 4"]),
    ({"kind": "chip"}, ["'kind'"]),
    ({"left_out": "MTP layers"}, ["'left_out'", "must list"]),
    ({"left_out": ["MTP layers", ""]}, ["'left_out'", "must list"]),
])
def test_model_card_refusals_name_the_key(tmp_path, change, words):
    raw = _shipped("model", "llama3-8b")
    for key, value in change.items():
        if value is None:
            del raw[key]
        else:
            raw[key] = value
    _refused(load_model, _write(tmp_path, raw), *words)


@pytest.mark.parametrize("change, words", [
    ({"hbm_bytes": None}, ["missing key 'hbm_bytes'"]),
    ({"hbm_gb": 96}, ["unknown key 'hbm_gb'"]),
    ({"hbm_bytes_per_s": "fast"}, ["'hbm_bytes_per_s'", "number"]),
    ({"hbm_bytes_per_s": 0}, ["'hbm_bytes_per_s'", "positive"]),
    ({"dcn_bytes_per_s_per_host": "-2.5e10"}, ["'dcn_bytes_per_s_per_host'"]),
    ({"chips_per_host": 4.0}, ["'chips_per_host'", "integer"]),
    ({"ici_links_per_axis": 1.5}, ["'ici_links_per_axis'", "integer"]),
    ({"pod_shape": "16x20x28"}, ["'pod_shape'", "list"]),
    ({"pod_shape": [16, 0, 28]}, ["'pod_shape'", "positive"]),
    ({"max_slice_chips": 10000}, ["'max_slice_chips' is 10000", "8960 chips of the 16x20x28"]),
    ({"max_slice_chips": 96}, ["'max_slice_chips' is 96", "no tpu-v5p slice"]),
    ({"pod_shape": [1000000] * 3}, ["'pod_shape'", "at most 1000000 chips in all", "1000000x1000000x1000000"]),
    ({"wraparound": "torus"}, ["'wraparound'", "allowed: full_cube"]),
    ({"ici_link_direction": "both"}, ["'ici_link_direction'", "one_way"]),
    ({"peak_flops_per_s": {"int8": "9.18e14"}}, ["'peak_flops_per_s'", "bf16"]),
    ({"peak_flops_per_s": {"bf16": "lots"}}, ["'peak_flops_per_s.bf16'"]),
    ({"sources": {"hbm_bytez": "typo"}}, ["'sources.hbm_bytez'", "allowed:"]),
    ({"attention_kernels": {"flash2": 1.5}}, ["'attention_kernels.flash2'", "fraction in (0, 1]"]),
    ({"attention_kernels": {"eager": 0.3}}, ["'attention_kernels.eager'", "other than fused, eager"]),
    ({"attention_kernels": {"flash 2": 0.3}}, ["'attention_kernels.flash 2'", "must be a name"]),
    ({"attention_kernels": [0.35]}, ["'attention_kernels'", "map kernel names"]),
    ({"attention_kernels": {"flash2": "fast"}}, ["'attention_kernels.flash2'", "number"]),
    # a kernel's source is filed under its own key; one for a kernel the card lacks documents nothing
    ({"sources": {"attention_kernels.flash9": "typo"}}, ["'sources.attention_kernels.flash9'", "allowed:"]),
])
def test_chip_card_refusals_name_the_key(tmp_path, change, words):
    raw = _shipped("chip", "tpu-v5p")
    for key, value in change.items():
        if value is None:
            del raw[key]
        else:
            raw[key] = value
    _refused(load_chip, _write(tmp_path, raw), *words)


def test_bad_yaml_is_refused_with_its_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("kind: model\nname: broken\nn_layers: [32\n")
    _refused(load_model, path, "not valid YAML", "line")


def test_a_key_given_twice_is_refused(tmp_path):
    text = (data_dir("models") / "llama3-8b.yaml").read_text() + "n_layers: 33\n"
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    _refused(load_model, path, "key 'n_layers' is given twice")


def test_a_card_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    _refused(load_chip, path, "mapping")


def test_numbers_are_read_exactly_whatever_yaml_makes_of_them(tmp_path):
    raw = _shipped("chip", "tpu-v5p")
    raw["peak_flops_per_s"]["bf16"] = 4.59e14            # dumped as a float: 459000000000000.0
    raw["hbm_bytes_per_s"] = "2.8e12"                     # a numeric string
    chip = load_chip(str(_write(tmp_path, raw)))
    assert chip.peak_flops_per_s["bf16"] == 459 * 10**12
    assert chip.hbm_bytes_per_s == 28 * 10**11


def test_unknown_card_names_are_refused_with_the_choices():
    with pytest.raises(KeyError, match="llama3-8b"):
        load_model("llama-9000")
    with pytest.raises(KeyError, match="tpu-v5p"):
        load_chip("tpu-v9")


# ----------------------------------------------------------------------------- block types and layer variants


def test_deepseek_v3_card_lists_its_block_types_in_order():
    card = load_model("deepseek-v3")
    assert card.layers == (("dense", 3), ("moe", 58)) and card.block_counts() == {"dense": 3, "moe": 58}
    assert (card.blocks["dense"].mlp, card.blocks["moe"].mlp) == ("dense", "moe")
    assert (card.attention, card.q_lora_rank, card.kv_lora_rank, card.rope_head_dim, card.v_head_dim) == \
        ("mla", 1536, 512, 64, 128)


def test_a_card_without_block_types_is_one_uniform_type(tmp_path):
    card = load_model("llama3-8b")
    assert card.layers == (("layer", 32),) and card.blocks["layer"].attention == "global"
    assert load_model("mixtral-8x7b").blocks["layer"].mlp == "moe"
    raw = _shipped("model", "llama3-8b")
    raw["sliding_window"] = 4096                   # a window and no block types: every layer slides
    assert load_model(str(_write(tmp_path, raw))).blocks["layer"].attention == "sliding"
    del raw["sliding_window"]
    raw["attention_chunk"] = 8192                  # a chunk and no block types: every layer attends in chunks
    assert load_model(str(_write(tmp_path, raw))).blocks["layer"].attention == "chunked"


def test_repeat_patterns_expand_and_merge(tmp_path):
    raw = _shipped("model", "llama3-8b")
    raw.update(n_layers=62, sliding_window=1024, block_types={"sliding": {"attention": "sliding"}, "global": {}},
               layers=[{"repeat": [["sliding", 5], ["global", 1]], "times": 10}, ["sliding", 2]])
    card = load_model(str(_write(tmp_path, raw)))
    assert card.layers == (("sliding", 5), ("global", 1)) * 10 + (("sliding", 2),)
    assert card.block_counts() == {"sliding": 52, "global": 10}


@pytest.mark.parametrize("change, words", [
    ({"block_types": {"dense": {}}}, ["'block_types' and 'layers' go together"]),
    ({"block_types": {"dense": {}}, "layers": [["moe", 32]]}, ["'layers[0]'", "'moe'", "allowed: dense"]),
    ({"block_types": {"dense": {}}, "layers": [["dense", 31]]}, ["adds up to 31", "'n_layers' is 32"]),
    ({"block_types": {"dense": {}, "x": {}}, "layers": [["dense", 32]]}, ["'block_types.x' is not used"]),
    ({"block_types": {"dense": {"mlp": "sparse"}}, "layers": [["dense", 32]]}, ["'block_types.dense.mlp'",
                                                                                  "allowed: dense, moe"]),
    ({"block_types": {"s": {"attention": "sliding"}}, "layers": [["s", 32]]}, ["no 'sliding_window'"]),
    ({"block_types": {"d": {}}, "layers": [{"repeat": [["d", 1]], "times": 10**6}] * 9}, ["segments"]),
    ({"block_types": {"d": {}}, "layers": [["d", True]]}, ["'layers[0][1]'", "positive integer"]),
    ({"sliding_window": 4096, "block_types": {"g": {}}, "layers": [["g", 32]]},
     ["'sliding_window' is set but no block type"]),
    ({"block_types": {"c": {"attention": "chunked"}}, "layers": [["c", 32]]}, ["no 'attention_chunk'"]),
    ({"attention_chunk": 8192, "block_types": {"g": {}}, "layers": [["g", 32]]},
     ["'attention_chunk' is set but no block type"]),
    ({"sliding_window": 4096, "attention_chunk": 8192}, ["'attention_chunk' is set but no block type"]),
    ({"attention_chunk": 2.5}, ["'attention_chunk'", "from 0"]),
    ({"block_types": {"d": {"attention": "local"}}, "layers": [["d", 32]]}, ["allowed: global, sliding, chunked"]),
    ({"mlp": "swiglu"}, ["'mlp'", "allowed: gated, plain"]),
    ({"norm": "batch"}, ["'norm'", "allowed: rms, layer"]),
    ({"positions": "learned"}, ["'max_positions' is needed"]),
    ({"max_positions": 1024}, ["'max_positions' is only read with positions: learned"]),
    ({"rotary_pct": 1.5}, ["'rotary_pct'", "(0, 1]"]),
    ({"rotary_pct": "nan"}, ["'rotary_pct'", "number"]),
    ({"attention": "mla"}, ["'kv_lora_rank' is needed"]),
    ({"kv_lora_rank": 512}, ["'kv_lora_rank' is only read with attention: mla"]),
    ({"d_ff_expert": 2048}, ["need experts"]),
    ({"fused_gate_up": True, "mlp": "plain"}, ["'fused_gate_up' needs mlp: gated"]),
    ({"norm_placement": "post", "norms_per_layer": 4}, ["'norm_placement' is post"]),
    ({"d_model": 10**13}, ["'d_model'", "out of range"]),
    ({"sliding_window": -1}, ["'sliding_window'", "from 0"]),
])
def test_layer_variant_refusals_name_the_key(tmp_path, change, words):
    raw = _shipped("model", "llama3-8b")
    raw.update(change)
    _refused(load_model, _write(tmp_path, raw), *words)


def test_mla_needs_as_many_kv_heads_as_heads(tmp_path):
    raw = _shipped("model", "deepseek-v3")
    raw["n_kv_heads"] = 8
    _refused(load_model, _write(tmp_path, raw), "'n_kv_heads' must equal 'n_heads'", "mla")


def test_a_scalar_keeps_its_type_however_often_its_text_repeats(tmp_path):
    """read_yaml remembers each scalar's implicit tag by text and style: a quoted 1 stays a string
    after a plain 1 was an integer, and the same text reads the same in every document."""
    from symroof.io.readers import read_yaml

    path = tmp_path / "doc.yaml"
    path.write_text("a: 1\nb: '1'\nc: 1e9\nd: '1e9'\ne: true\nf: 'true'\ng: null\nh: ~\ni: [1, '1']\n")
    for _ in range(2):
        assert read_yaml(path) == {"a": 1, "b": "1", "c": "1e9", "d": "1e9", "e": True, "f": "true",
                                   "g": None, "h": None, "i": [1, "1"]}


def test_the_schema_lists_every_architecture_a_card_may_name():
    """models/SCHEMA.md's `architecture` row names each value cards.ARCHITECTURES allows (it had
    fallen behind the config.json classes)."""
    from pathlib import Path

    from symroof.io.cards import ARCHITECTURES

    row = next(line for line in (Path(__file__).resolve().parent.parent / "models/SCHEMA.md").read_text().splitlines()
               if line.startswith("| `name`, `architecture`"))
    listed = row.split("`architecture` is one of ")[1].split(" (a label")[0].split(", ")
    assert listed == list(ARCHITECTURES)
