"""Vision-language wrappers (``*ForConditionalGeneration``): the language model read from text_config.

What each wrapper reads, names as left out and refuses; no torch. The parameter counts against
transformers (the VLM built on the meta device, its language model and lm_head counted) are in
tests/validate/test_hf_vlm_params.py.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from symroof.errors import CardError
from symroof.io.hf import model_from_hf_config

ROOT = Path(__file__).resolve().parent.parent
WHERE = "vlm/config.json"

# Shaped as Google's gemma-3-4b-it config.json: its text_config leaves out num_attention_heads,
# num_key_value_heads, head_dim and vocab_size, which transformers fills from Gemma3TextConfig's defaults.
GEMMA3 = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "boi_token_index": 255999,
          "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144,
          "initializer_range": 0.02, "mm_tokens_per_image": 256, "torch_dtype": "bfloat16",
          "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                          "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                          "sliding_window": 1024},
          "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "num_hidden_layers": 27}}
GEMMA3_SIZES = {"num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208}
# Shaped as Mistral Small 3.1's: no tie_word_embeddings anywhere.
MISTRAL3 = {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "image_token_index": 10,
            "multimodal_projector_bias": False, "projector_hidden_act": "gelu", "spatial_merge_size": 2,
            "vision_feature_layer": -1, "transformers_version": "4.50.0.dev0",
            "text_config": {"head_dim": 128, "hidden_act": "silu", "hidden_size": 5120, "intermediate_size": 32768,
                            "max_position_embeddings": 131072, "model_type": "mistral", "num_attention_heads": 32,
                            "num_hidden_layers": 40, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
                            "rope_theta": 1000000000.0, "sliding_window": None, "vocab_size": 131072},
            "vision_config": {"model_type": "pixtral", "hidden_size": 1024}}
QWEN_TEXT = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 100, "use_sliding_window": False, "sliding_window": 32768,
             "max_window_layers": 4, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}}


def _gemma3(**text) -> dict:
    return {**GEMMA3, "text_config": {**GEMMA3["text_config"], **GEMMA3_SIZES, **text}}


def _convert(raw: dict):
    return model_from_hf_config(json.loads(json.dumps(raw)), WHERE)


def _refused(raw: dict, *words) -> str:
    with pytest.raises(CardError) as err:
        _convert(raw)
    message = str(err.value)
    assert message.startswith(f"{WHERE}: ") and "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_gemma3_reads_its_language_model_and_names_the_vision_tower():
    card = _convert(_gemma3())
    assert (card.architecture, card.n_layers, card.d_model, card.n_heads, card.n_kv_heads, card.head_dim,
            card.vocab, card.sliding_window, card.tie_embeddings) == \
        ("gemma3_text", 34, 2560, 8, 4, 256, 262208, 1024, True)
    assert [n for n, _ in card.layers] == ["sliding", "global"] * 5 + ["sliding"]     # every 6th layer global
    assert card.left_out[0] == ("vision tower and multimodal projector (vision_config, mm_tokens_per_image) not "
                                "counted: only the language model of Gemma3ForConditionalGeneration is read")
    assert "Gemma3ForConditionalGeneration" in card.source and "Gemma3ForCausalLM" in card.source


@pytest.mark.parametrize("key", ["num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size"])
def test_gemma3_sizes_left_to_the_class_defaults_are_required(key):
    """Google's file leaves all four out; transformers' fallbacks are gemma-3-4b's constants."""
    raw = _gemma3()
    del raw["text_config"][key]
    _refused(raw, f"'text_config.{key}'", "transformers" if key in ("num_attention_heads", "vocab_size")
             else "would not derive it")


def test_the_published_gemma3_shape_is_one_line_exit_2_naming_file_and_key(tmp_path):
    path = tmp_path / "gemma-3-4b-it" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(GEMMA3))
    result = subprocess.run([sys.executable, "-m", "symroof", "count", str(path)], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in (str(path), "'text_config.num_attention_heads'", "reference model's constant"):
        assert word in lines[0]


def test_mistral3_without_tie_key_reads_the_text_config_and_says_5x_differs():
    card = _convert(MISTRAL3)
    assert (card.architecture, card.n_layers, card.head_dim, card.n_kv_heads, card.sliding_window,
            card.tie_embeddings) == ("mistral", 40, 128, 8, 0, False)
    assert len(card.left_out) == 2 and "tie_word_embeddings" in card.left_out[1]
    assert "4.x" in card.left_out[1] and "tied" in card.left_out[1]
    for tie in (True, False):                 # given at the top level: read as 5.x does, nothing to say
        card = _convert({**MISTRAL3, "tie_word_embeddings": tie})
        assert card.tie_embeddings is tie and len(card.left_out) == 1


def test_llava_ties_when_either_config_says_so():
    text = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 64}
    raw = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "text_config": text}
    assert _convert(raw).tie_embeddings is False and _convert(raw).n_kv_heads == 4     # LLaMA: K = N when absent
    assert _convert({**raw, "text_config": {**text, "tie_word_embeddings": True}}).tie_embeddings is True
    assert _convert({**raw, "tie_word_embeddings": True}).tie_embeddings is True
    raw.pop("text_config")["model_type"] = "llama"
    _refused({**raw, "text_config": {"model_type": "llama", "vocab_size": 32064}}, "'text_config.num_hidden_layers'")
    _refused(raw, "missing key 'text_config'")


def test_qwen2_5_vl_flat_and_nested_read_the_same_language_model():
    flat = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
            "image_token_id": 151655, "vision_start_token_id": 151652, "vision_config": {"depth": 32},
            **QWEN_TEXT}
    nested = {"architectures": flat["architectures"], "model_type": "qwen2_5_vl", "vision_config": {"depth": 32},
              "text_config": {"model_type": "qwen2_5_vl_text", **QWEN_TEXT}}
    a, b = _convert(flat), _convert(nested)
    assert (a.architecture, a.qkv_bias, a.o_bias, a.head_dim, a.tie_embeddings) == ("qwen2", True, False, 16, False)
    assert (a.n_layers, a.d_model, a.n_kv_heads, a.vocab) == (b.n_layers, b.d_model, b.n_kv_heads, b.vocab)
    assert _convert({**nested, "hidden_size": 64}).d_model == 64             # a copy of text_config's: accepted
    _refused({**nested, "hidden_size": 128}, "unknown key 'hidden_size'", "beside text_config")
    _refused({**flat, "head_dim": 8}, "unknown key 'head_dim'")           # its attention takes D // N
    _refused({**flat, "num_key_value_heads": "x"}, "key 'num_key_value_heads' must be")     # flat: no prefix
    _refused({**nested, "text_config": {**nested["text_config"], "use_sliding_window": True,
                                        "max_window_layers": None}}, "'text_config.max_window_layers'")


def test_llama4_reads_its_text_model_and_ties_as_text_config_says():
    text = {"model_type": "llama4_text", "num_hidden_layers": 4, "hidden_size": 32, "intermediate_size": 16,
            "intermediate_size_mlp": 40, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
            "vocab_size": 64, "num_local_experts": 4, "num_experts_per_tok": 1, "attention_chunk_size": 6,
            "interleave_moe_layer_step": 2}
    raw = {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "image_token_index": 200092,
           "boi_token_index": 200080, "eoi_token_index": 200081, "text_config": text, "vision_config": {}}
    card = _convert(raw)
    assert (card.architecture, card.n_experts, card.attention_chunk, card.tie_embeddings) == ("llama4_text", 4, 6, False)
    assert card.left_out[0].startswith("vision tower and multimodal projector (vision_config) not counted")
    tied = _convert({**raw, "tie_word_embeddings": True})      # the wrapper's key: not read by its language model
    assert not tied.tie_embeddings and any("tie_word_embeddings (true) at the top level not read" in note
                                           for note in tied.left_out)
    assert _convert({**raw, "text_config": {**text, "tie_word_embeddings": True}}).tie_embeddings
    _refused({**raw, "text_config": {**text, "model_type": "llama"}}, "'text_config.model_type' is 'llama'",
             "'llama4_text'")
    _refused({**raw, "text_config": {**text, "intermediate_size_mlp": None}}, "'text_config.intermediate_size_mlp'")


@pytest.mark.parametrize("change, words", [
    ({"model_type": "llava"}, ["key 'model_type' is 'llava'", "allowed: 'gemma3'"]),
    ({"text_config": None}, ["missing key 'text_config'"]),
    ({"text_config": [1]}, ["'text_config' must be a mapping"]),
    ({"vision_config": "siglip"}, ["'vision_config' must be a mapping or null"]),
    ({"image_seq_length": 576}, ["unknown key 'image_seq_length'"]),
    ({"tie_word_embeddings": "yes"}, ["'tie_word_embeddings' must be true or false"]),
    ({"text_config": {**GEMMA3["text_config"], **GEMMA3_SIZES, "model_type": "llama"}},
     ["'text_config.model_type' is 'llama'", "gemma3_text"]),
    ({"text_config": {**GEMMA3["text_config"], **GEMMA3_SIZES, "num_experts": 8}},
     ["key 'text_config.num_experts' is 8"]),
    ({"text_config": {**GEMMA3["text_config"], **GEMMA3_SIZES, "vision_tower": 1}},
     ["unknown key 'text_config.vision_tower'"]),
    ({"text_config": {**GEMMA3["text_config"], **GEMMA3_SIZES, "hidden_activation": "relu"}},
     ["key 'text_config.hidden_activation' is 'relu'"]),
    ({"text_config": {**GEMMA3["text_config"], **GEMMA3_SIZES, "num_key_value_heads": 3}},
     ["'text_config.num_key_value_heads' (3) must divide 'text_config.num_attention_heads' (8)"]),
    ({"text_config": {**GEMMA3["text_config"], **GEMMA3_SIZES, "sliding_window": None}},
     ["missing key 'text_config.sliding_window'"]),
])
def test_refusals_name_the_wrapper_or_text_config_key(change, words):
    _refused({**_gemma3(), **change}, *words)


def test_a_text_model_whose_embedding_the_wrapper_cannot_tie_is_refused():
    raw = {**MISTRAL3, "text_config": {"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 4,
                                       "vocab_size": 64}}
    _refused(raw, "'text_config.model_type' is 'gpt2'", "allowed: llama")


def test_an_unknown_wrapper_is_still_refused_by_architectures():
    message = _refused({"architectures": ["PaliGemmaForConditionalGeneration"], "model_type": "paligemma"},
                       "'PaliGemmaForConditionalGeneration'")
    assert "the language model of Gemma3ForConditionalGeneration" in message


def test_quantization_of_the_wrapper_is_named():
    card = _convert({**MISTRAL3, "tie_word_embeddings": False, "quantization_config": {"quant_method": "fp8"}})
    assert any(note.startswith("quantization_config") and "(fp8)" in note for note in card.left_out)
