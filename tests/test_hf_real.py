"""Published config.json files of supported classes that carry keys transformers never reads.

Each folder under tests/data/hf has a SOURCE.md saying where its file came from. transformers'
parameter counts for them are checked in tests/validate/test_hf_params.py.
"""

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from symroof.errors import CardError
from symroof.io.catalog import load_model
from symroof.io.hf import model_from_hf_config

DATA = Path(__file__).resolve().parent / "data" / "hf"

#   folder           architecture L   D     F      N   K   H    V       tie   qkv bias  the keys transformers does not read
REAL = {
    "gpt2-medium":   ("gpt2",  24, 1024, 4096,  16, 16, 64,  50257,  True, True,  ("n_special", "predict_special_tokens")),
    "SmolLM2-135M":  ("llama", 30, 576,  1536,  9,  3,  64,  49152,  True, False, ("is_llama_config", "rope_interleaved",
                                                                                   "transformers.js_config")),
    "Qwen2.5-3B":    ("qwen2", 36, 2048, 11008, 16, 2,  128, 151936, True, True,  ("use_mrope",)),
}
SKIP = ("name", "source", "path")
FIELDS = ("architecture", "n_layers", "d_model", "d_ff", "n_heads", "n_kv_heads", "head_dim", "vocab",
          "tie_embeddings", "qkv_bias")


def _config(folder: str) -> dict:
    return json.loads((DATA / folder / "config.json").read_text())


@pytest.mark.parametrize("folder", REAL)
def test_published_configs_with_unread_keys_convert(folder):
    """Found by probing published files: each was refused for a key its class never reads."""
    card = load_model(str(DATA / folder / "config.json"))
    assert tuple(getattr(card, f) for f in FIELDS) == REAL[folder][:-1]
    raw = _config(folder)
    assert set(REAL[folder][-1]) <= set(raw)                 # the keys are in the published file
    assert (DATA / folder / "SOURCE.md").is_file()


@pytest.mark.parametrize("key, value, other", [
    ("n_special", 0, "Meta-Llama-3-8B"), ("predict_special_tokens", True, "Qwen2-7B"),
    ("is_llama_config", True, "Qwen2-7B"), ("rope_interleaved", False, "Mistral-7B-v0.1"),
    ("use_mrope", False, "Meta-Llama-3-8B"),
])
def test_those_keys_stay_unknown_for_other_classes(key, value, other):
    """A key is neutral for the class whose code was read, not for every class."""
    with pytest.raises(CardError, match=rf"unknown key '{key}'"):
        model_from_hf_config({**_config(other), key: value}, "test/config.json")


def test_qwen3_moe_expert_count_as_transformers_5_saves_it():
    """transformers 5.x aliases Qwen3-MoE's num_experts to num_local_experts and saves that key, so
    every config it writes was refused ('experts are read only for MixtralForCausalLM')."""
    published = _config("Qwen3-30B-A3B")
    saved = {k: v for k, v in published.items() if k != "num_experts"} | {"num_local_experts": 128}
    card = model_from_hf_config(saved, "test/config.json")
    assert card == model_from_hf_config(published, "test/config.json")
    assert (card.n_experts, card.experts_per_token) == (128, 8)
    assert model_from_hf_config({**published, "num_local_experts": 128}, "test/config.json") == card
    with pytest.raises(CardError, match=r"'num_experts' \(128\) and 'num_local_experts' \(64\)"):
        model_from_hf_config({**published, "num_local_experts": 64}, "test/config.json")
    with pytest.raises(CardError, match=r"'num_local_experts' must be at least 2"):
        model_from_hf_config({**saved, "num_local_experts": 1}, "test/config.json")


@pytest.mark.validate
def test_configs_transformers_saves_import_as_the_published_ones(tmp_path):
    """A fine-tune's config.json is what save_pretrained writes (rope_parameters, dtype, aliases)."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    for folder in sorted(p.name for p in DATA.iterdir()):
        published = _config(folder)
        transformers.AutoConfig.for_model(**published).save_pretrained(tmp_path / folder)
        saved = asdict(load_model(str(tmp_path / folder / "config.json")))
        published = asdict(load_model(str(DATA / folder / "config.json")))
        assert {k: v for k, v in saved.items() if k not in SKIP} == \
               {k: v for k, v in published.items() if k not in SKIP}, folder


@pytest.mark.parametrize("folder, change, named", [
    ("gpt2-medium", {}, ["attn_pdrop 0.1", "resid_pdrop 0.1", "embd_pdrop 0.1"]),     # the published file
    ("Qwen2-7B", {"attention_dropout": 0.1}, ["attention_dropout 0.1"]),
    ("Meta-Llama-3-8B", {"attention_dropout": 0.0}, []),
    ("gpt2-medium", {"attn_pdrop": 0.0, "resid_pdrop": 0, "embd_pdrop": 0.0}, []),
])
def test_a_dropout_the_class_applies_is_named_not_dropped(folder, change, named):
    """Cards model dropout (dropout: true: masks in the training graph), the import always read it as
    none: GPT-2's published attn_pdrop, resid_pdrop and embd_pdrop of 0.1 vanished without a word."""
    card = model_from_hf_config({**_config(folder), **change}, "test/config.json")
    assert card.dropout is False
    notes = [note for note in card.left_out if "dropout" in note]
    assert bool(notes) == bool(named), card.left_out
    for words in named:
        assert words in notes[0], notes


def test_a_dropout_key_the_class_never_reads_is_not_named():
    """GPT-NeoX's older hidden_dropout_prob is not read by transformers' GPT-NeoX: nothing is left out."""
    raw = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "num_hidden_layers": 2, "hidden_size": 64,
           "intermediate_size": 256, "num_attention_heads": 4, "vocab_size": 100, "hidden_dropout_prob": 0.1}
    assert model_from_hf_config(raw, "test/config.json").left_out == ()
    assert "hidden_dropout 0.1" in model_from_hf_config({**raw, "hidden_dropout": 0.1}, "t").left_out[0]


@pytest.mark.parametrize("change, named", [
    ({}, ["attn_logit_softcapping 50.0", "final_logit_softcapping 30.0"]),          # the published gemma-2-9b
    ({"attn_logit_softcapping": None, "final_logit_softcapping": None}, []),
    ({"attn_logit_softcapping": None}, ["final_logit_softcapping 30.0"]),
])
def test_gemma_soft_capping_is_named_not_dropped(change, named):
    """Gemma 2's tanh soft-caps on the attention scores and the logits are elementwise work the op
    table counts nowhere; they were accepted without a word. Absent, Gemma 2 takes 50 and 30."""
    raw = {**_config("gemma-2-9b"), **change}
    notes = [note for note in model_from_hf_config(raw, "test/config.json").left_out if "softcapping" in note]
    assert bool(notes) == bool(named)
    for words in named:
        assert words in notes[0]
    absent = {k: v for k, v in _config("gemma-2-9b").items() if "softcapping" not in k}
    assert "attn_logit_softcapping 50.0" in " ".join(model_from_hf_config(absent, "t").left_out)


def test_a_local_directory_in_name_or_path_does_not_name_the_model():
    """RedPajama's published _name_or_path is /root/fm/models/rp_3b_800b_real_fp16, a directory on the
    machine that saved it; count and serve headed their output with it."""
    card = load_model(str(DATA / "RedPajama-INCITE-Base-3B-v1" / "config.json"))
    assert card.name == "RedPajama-INCITE-Base-3B-v1"
    raw = _config("RedPajama-INCITE-Base-3B-v1")
    for local in ("./out/checkpoint-3890", "~/models/rp", "C:\\models\\rp", "/data/x/y"):
        assert model_from_hf_config({**raw, "_name_or_path": local}, "hub/RP/config.json").name == "RP"
    for hub_id in ("togethercomputer/RedPajama-INCITE-Base-3B-v1", "gpt2"):
        assert model_from_hf_config({**raw, "_name_or_path": hub_id}, "hub/RP/config.json").name == hub_id
