"""Parameter counts against Hugging Face transformers, built on the meta device (no weights).

For every shipped card, every real config.json under tests/data/hf and 60 random configs
(10 per architecture, fixed seed), symroof's count must equal
``sum(p.numel() for p in model.parameters())`` exactly, in total and per group. The
configuration goes through ``symroof.io.hf.model_from_hf_config`` (the config.json path), and
the shipped cards through the inverse mapping ``card_to_hf``.

Note on tied embeddings: ``parameters()`` lists a tied ``lm_head.weight`` once (it *is*
``embed_tokens.weight``), so V·D is counted once; symroof puts it under ``embedding`` and
gives ``unembedding`` 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import ARCHS, card_to_hf, case_id, hf_config, hf_group, random_configs  # noqa: E402
from symroof.io.catalog import list_cards, load_model
from symroof.errors import CardError  # noqa: E402
from symroof.io.hf import ROWS, model_from_hf_config  # noqa: E402
from symroof.io.bind import count  # noqa: E402

pytestmark = pytest.mark.validate

DATA = Path(__file__).resolve().parent.parent / "data" / "hf"
RANDOM = random_configs(seed=20260405, count=60, small=False)
GROUPS = ("embedding", "attention", "mlp", "norms", "unembedding")


def hf_counts(raw: dict) -> dict[str, int]:
    """transformers' parameters of ``raw`` per symroof group, built on the meta device."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(raw))
    groups = dict.fromkeys(GROUPS, 0)
    for name, p in model.named_parameters():        # a tied lm_head is not listed (same tensor)
        groups[hf_group(name)] += p.numel()
    assert sum(groups.values()) == sum(p.numel() for p in model.parameters())
    return groups


def assert_same_params(card, raw: dict) -> None:
    ours = count(card, batch=1, seq=1)
    theirs = hf_counts(raw)
    assert ours.params_total == sum(theirs.values()), (case_id(raw), ours.params_total, sum(theirs.values()))
    assert ours.params_by_group == theirs, (case_id(raw), ours.params_by_group, theirs)


@pytest.mark.parametrize("raw", RANDOM, ids=case_id)
def test_random_config_params_match_transformers(raw):
    card = model_from_hf_config(dict(raw), f"random/{case_id(raw)}/config.json")
    assert_same_params(card, raw)


def test_random_configs_cover_every_architecture_and_option():
    archs = {raw["model_type"] for raw in RANDOM}
    assert archs == set(ARCHS)
    for key in ("tie_word_embeddings", "attention_bias", "mlp_bias"):
        assert {raw.get(key) for raw in RANDOM} >= {True, False}, key
    cards = [model_from_hf_config(dict(raw), "random") for raw in RANDOM]
    assert any(c.head_dim * c.n_heads != c.d_model for c in cards)
    assert {c.n_kv_heads == c.n_heads for c in cards} == {True, False}          # MHA and GQA
    assert any(c.n_kv_heads == 1 < c.n_heads for c in cards)                     # MQA
    assert any(c.qkv_bias for c in cards) and any(c.o_bias for c in cards) and any(c.mlp_bias for c in cards)
    assert any(c.is_moe for c in cards)


@pytest.mark.parametrize("name", list_cards()["models"])
def test_shipped_card_params_match_transformers(name):
    card = load_model(name)
    raw = card_to_hf(card)
    again = model_from_hf_config(dict(raw), f"{name}/config.json")          # the card survives a round trip
    skip = {"name", "source", "path"}
    assert {k: v for k, v in asdict(again).items() if k not in skip} == \
           {k: v for k, v in asdict(card).items() if k not in skip}
    assert_same_params(card, raw)


@pytest.mark.parametrize("folder", sorted(p.name for p in DATA.iterdir()) if DATA.is_dir() else [])
def test_real_config_json_params_match_transformers(folder):
    raw = json.loads((DATA / folder / "config.json").read_text())
    if "model_type" not in raw:                      # the class names it (GPT-2's file has its own)
        raw["model_type"] = ROWS[raw["architectures"][0]].architecture
    card = load_model(str(DATA / folder / "config.json"))
    assert_same_params(card, raw)


# Configurations transformers accepts (it builds them) but symroof refuses, with the key named.
#   (architecture class, model_type, changes to a valid base, word the message must contain)
_QMOE = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16, "shared_expert_intermediate_size": 16}
_OSS = {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 8}
REFUSED = [
    ("RwkvForCausalLM", "rwkv", {}, "architectures"),
    ("GemmaForCausalLM", "gemma", {"head_dim": None}, "head_dim"),                          # transformers: 256
    ("GemmaForCausalLM", "gemma", {"num_key_value_heads": None}, "num_key_value_heads"),    # transformers: 16
    ("Qwen2MoeForCausalLM", "qwen2_moe", {**_QMOE, "num_key_value_heads": None}, "num_key_value_heads"),   # 16
    ("Qwen2MoeForCausalLM", "qwen2_moe", {**_QMOE, "moe_intermediate_size": None}, "moe_intermediate_size"),  # 1408
    ("Qwen2MoeForCausalLM", "qwen2_moe", {**_QMOE, "shared_expert_intermediate_size": None},
     "shared_expert_intermediate_size"),                                                    # transformers: 5632
    ("Qwen2MoeForCausalLM", "qwen2_moe", {**_QMOE, "use_sliding_window": True, "sliding_window": 4},
     "max_window_layers"),                                                                  # transformers: 28
    ("GptOssForCausalLM", "gpt_oss", {**_OSS, "sliding_window": None}, "sliding_window"),  # transformers: 128
    ("GptOssForCausalLM", "gpt_oss", {**_OSS, "head_dim": None}, "head_dim"),              # transformers: 64
    ("GptOssForCausalLM", "gpt_oss", {**_OSS, "num_key_value_heads": None}, "num_key_value_heads"),   # 8
    ("LlamaForCausalLM", "llama", {"num_local_experts": 4}, "num_local_experts"),
    ("MixtralForCausalLM", "mixtral", {"num_local_experts": None}, "num_local_experts"),
    ("Qwen3ForCausalLM", "qwen3", {"head_dim": None}, "head_dim"),              # transformers: 128
    ("Gemma2ForCausalLM", "gemma2", {"head_dim": None, "sliding_window": 4096}, "head_dim"),            # transformers: 256
    ("Gemma2ForCausalLM", "gemma2", {"num_key_value_heads": None, "sliding_window": 4096}, "num_key_value_heads"),  # transformers: 4
    ("MistralForCausalLM", "mistral", {"num_key_value_heads": None, "sliding_window": 8}, "num_key_value_heads"),  # 8
    ("MistralForCausalLM", "mistral", {}, "sliding_window"),    # absent: transformers slides every layer at 4096
    # transformers' default window is 4096, a reference model's constant: the key is required
    ("Qwen2ForCausalLM", "qwen2", {"use_sliding_window": True, "max_window_layers": 1}, "sliding_window"),
    # ... and so is max_window_layers (transformers: 28) when the window is on
    ("Qwen2ForCausalLM", "qwen2", {"use_sliding_window": True, "sliding_window": 4}, "max_window_layers"),
    ("LlamaForCausalLM", "llama", {"pruned_heads": {"0": [1]}}, "pruned_heads"),
    ("LlamaForCausalLM", "llama", {"model_type": "mistral"}, "model_type"),
    ("DiffLlamaForCausalLM", "diffllama", {}, "architectures"),
]


@pytest.mark.parametrize("hf_class, model_type, change, word", REFUSED,
                         ids=[f"{c.replace('ForCausalLM', '')}-{w}" for c, _, _, w in REFUSED])
def test_unsupported_config_is_refused_by_name(hf_class, model_type, change, word):
    raw = {"architectures": [hf_class], "model_type": model_type, "num_hidden_layers": 2, "hidden_size": 32,
           "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
           "vocab_size": 64, "num_local_experts": 4, "num_experts_per_tok": 2}
    if hf_class != "MixtralForCausalLM":
        del raw["num_local_experts"], raw["num_experts_per_tok"]
    for key, value in change.items():               # None: leave the key out (transformers fills a default)
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    assert sum(hf_counts_any(raw)) > 0               # transformers takes it
    with pytest.raises(CardError) as err:
        model_from_hf_config(dict(raw), "bad/config.json")
    message = str(err.value)
    assert message.startswith("bad/config.json: ") and "\n" not in message
    assert f"'{word}'" in message, message


def hf_counts_any(raw: dict) -> list[int]:
    """Parameter sizes of any transformers causal LM (also classes symroof does not map to groups)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(raw))
    return [p.numel() for p in model.parameters()]


SHAPES = json.loads((DATA.parent / "published_shapes.json").read_text())


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_published_shapes_params_match_transformers(name):
    """Gemma 7B and 2B, Qwen1.5-MoE-A2.7B, gpt-oss-20b and 120b, Llama 4 Scout and Maverick
    and MiniMax-M2 (tests/data/published_shapes.json). Scout's attn_temperature_tuning is published as 4, which 5.x's
    type check refuses: transformers is given the true it reads it as (4.x, and the code's truth test)."""
    raw = {k: v for k, v in SHAPES[name].items() if k != "_source"}
    card = model_from_hf_config(dict(raw), f"{name}/config.json")
    if "attn_temperature_tuning" in raw:
        raw["attn_temperature_tuning"] = bool(raw["attn_temperature_tuning"])
    assert_same_params(card, raw)


# Keys transformers builds past (the counts are its own class's), which symroof names in left_out.
NOTED = [
    ({"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}},
     "quantization_config: the checkpoint's stored weight format (bitsandbytes)"),
    ({"auto_map": {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}}, "auto_map: the checkpoint's own modelling "
                                                                         "code (modeling_x.XForCausalLM) is not read"),
]


@pytest.mark.parametrize("change, words", NOTED, ids=[next(iter(c)) for c, _ in NOTED])
def test_a_checkpoint_format_or_remote_code_is_counted_as_transformers_class_and_named(change, words):
    raw = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 32,
           "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
           "vocab_size": 64, **change}
    card = model_from_hf_config(dict(raw), "noted/config.json")
    assert any(note.startswith(words) for note in card.left_out), card.left_out
    assert_same_params(card, raw)
