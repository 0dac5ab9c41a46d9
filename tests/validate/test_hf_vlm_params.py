"""Vision-language wrappers against transformers: the language model's parameters, built on the meta device.

Each case is a wrapper ``config.json`` (Mistral 3, Gemma 3, LLaVA, Qwen2.5-VL, nested and flat)
around a random small language model. transformers builds the whole wrapper from the same dict (its
config class, ``from_dict``); the parameters of ``model.model.language_model`` and ``lm_head`` (a
tied ``lm_head`` is listed once) must equal symroof's count of the card read from the file, in
total and per group. The vision tower and projector are what symroof names as left out.

``tie_word_embeddings``: where the wrapper leaves it out, symroof reads the text_config's (as
transformers 4.x); the comparison gives transformers that value at the top level, and a separate
check pins where 5.x's ``from_config`` differs (and that the card names it).
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch",
                            reason="torch not installed: install the 'validate' extra (pip install .[validate])")
transformers = pytest.importorskip("transformers", reason="transformers not installed: install the 'validate' extra")

from hfcases import ARCHS, hf_group, random_configs  # noqa: E402
from symroof.io.bind import count  # noqa: E402
from symroof.io.hf import model_from_hf_config  # noqa: E402

pytestmark = pytest.mark.validate

GROUPS = ("embedding", "attention", "mlp", "norms", "unembedding")
VISION = {  # small vision towers: built, never counted by symroof
    "gemma3": {"model_type": "siglip_vision_model", "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1,
               "num_attention_heads": 2, "image_size": 28, "patch_size": 14},
    "mistral3": {"model_type": "pixtral", "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "head_dim": 8, "image_size": 28, "patch_size": 14},
    "llava": {"model_type": "clip_vision_model", "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2,
              "num_attention_heads": 2, "image_size": 28, "patch_size": 14, "projection_dim": 8},
    "qwen2_5_vl": {"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16,
                   "fullatt_block_indexes": [0]},
}
CLASSES = {"gemma3": "Gemma3ForConditionalGeneration", "mistral3": "Mistral3ForConditionalGeneration",
           "llava": "LlavaForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}


def _text(raw: dict) -> dict:
    return {k: v for k, v in raw.items() if k != "architectures"}


def _qwen2_5_vl_text(rng: random.Random) -> dict:
    heads = rng.choice((1, 2, 4))
    text = {"model_type": "qwen2_5_vl_text", "num_hidden_layers": rng.randint(1, 3), "hidden_size": heads * 8,
            "intermediate_size": rng.randrange(8, 65, 4), "num_attention_heads": heads,
            "num_key_value_heads": rng.choice([k for k in (1, 2, 4) if heads % k == 0]),
            "vocab_size": rng.randrange(16, 97),
            "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]}}
    if rng.random() < 0.5:
        text.update(use_sliding_window=True, max_window_layers=rng.randint(0, 2), sliding_window=rng.randint(2, 12))
    return text


def _cases() -> list[dict]:
    rng = random.Random(20270201)
    texts = {arch: [_text(r) for r in random_configs(seed=20270200 + i, count=4, small=False, archs=[arch])]
             for i, arch in enumerate(("llama", "mistral", "qwen2"))}
    texts["gemma3_text"] = [_text(r) for r in
                            random_configs(seed=20270204, count=4, small=False, archs=["gemma3_text"])]
    cases = []
    for wrapper, inner in (("mistral3", ("mistral", "llama", "qwen2")), ("llava", ("llama", "mistral", "qwen2")),
                           ("gemma3", ("gemma3_text",))):
        for arch in inner:
            for text in texts[arch][:2 if wrapper != "gemma3" else 4]:
                raw = {"architectures": [CLASSES[wrapper]], "model_type": wrapper, "text_config": dict(text),
                       "vision_config": VISION[wrapper]}
                choice = rng.choice(("absent", True, False))
                if choice != "absent":
                    raw["tie_word_embeddings"] = choice
                cases.append(raw)
    for i in range(4):                                # Qwen2.5-VL: nested, and flat as files before text_config
        text = _qwen2_5_vl_text(rng)
        raw = {"architectures": [CLASSES["qwen2_5_vl"]], "model_type": "qwen2_5_vl",
               "vision_config": VISION["qwen2_5_vl"]}
        raw.update({"text_config": text} if i % 2 else {k: v for k, v in text.items() if k != "model_type"})
        raw["tie_word_embeddings"] = bool(i // 2)
        cases.append(raw)
    return cases


CASES = _cases()


def _case_id(raw: dict) -> str:
    text = raw.get("text_config", raw)
    return (f"{raw['model_type']}-{text.get('model_type', 'flat')}-L{text['num_hidden_layers']}-D{text['hidden_size']}"
            f"-tie{raw.get('tie_word_embeddings', '_')}")


def _build(raw: dict):
    from transformers import CONFIG_MAPPING, AutoModelForImageTextToText

    config = CONFIG_MAPPING[raw["model_type"]].from_dict(dict(raw))
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(config)


def language_model_counts(model) -> dict[str, int]:
    """transformers' parameters of the language model and lm_head, per symroof group."""
    groups = dict.fromkeys(GROUPS, 0)
    for name, p in model.named_parameters():          # a tied lm_head is listed once
        if name.startswith(("model.language_model.", "lm_head.")):
            groups[hf_group(name)] += p.numel()
    return groups


def _tied(model) -> bool:
    return model.lm_head.weight is model.model.language_model.embed_tokens.weight


def _as_4x(raw: dict) -> dict:
    """``raw`` with the tie_word_embeddings transformers 4.x read (the text_config's, or its class default)
    written at the top level, where 5.x reads it."""
    from transformers import CONFIG_MAPPING

    if "tie_word_embeddings" in raw or "text_config" not in raw:
        return raw
    text = raw["text_config"]
    default = getattr(CONFIG_MAPPING[text.get("model_type", {"mistral3": "mistral", "llava": "llama",
                                                               "gemma3": "gemma3_text"}[raw["model_type"]])](),
                      "tie_word_embeddings", False)
    return {**raw, "tie_word_embeddings": text.get("tie_word_embeddings", default)}


@pytest.mark.parametrize("raw", CASES, ids=_case_id)
def test_language_model_params_match_transformers(raw):
    card = model_from_hf_config(dict(raw), f"random/{_case_id(raw)}/config.json")
    ours = count(card, batch=1, seq=1)
    theirs = language_model_counts(_build(_as_4x(raw)))
    assert ours.params_by_group == theirs, (ours.params_by_group, theirs)
    assert any(note.startswith("vision tower and multimodal projector") for note in card.left_out)


@pytest.mark.parametrize("raw", [r for r in CASES if "tie_word_embeddings" not in r], ids=_case_id)
def test_where_5x_from_config_ties_otherwise_the_card_says_so(raw):
    card = model_from_hf_config(dict(raw), "random/config.json")
    named = any("tie_word_embeddings" in note for note in card.left_out)
    assert named == (_tied(_build(raw)) != card.tie_embeddings)


def test_cases_cover_the_wrappers():
    cards = [model_from_hf_config(dict(raw), "random") for raw in CASES]
    assert {raw["model_type"] for raw in CASES} == set(CLASSES)
    assert {c.architecture for c in cards} >= {"mistral", "llama", "qwen2", "gemma3_text"}
    assert {c.tie_embeddings for c in cards} == {True, False}
    assert any(any("tie_word_embeddings" in n for n in c.left_out) for c in cards)
    assert any(c.sliding_window for c, raw in zip(cards, CASES) if raw["model_type"] == "qwen2_5_vl")
    assert set(ARCHS) >= {"llama", "mistral", "qwen2"}


#   published language models: Gemma 3's text_config leaves K, head_dim, N and V to Gemma3TextConfig's
#   defaults (gemma-3-4b's), given here explicitly, as a reader must
PUBLISHED = {
    "gemma-3-4b": {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                   "mm_tokens_per_image": 256,
                   "boi_token_index": 255999, "eoi_token_index": 256000, "image_token_index": 262144,
                   "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                                   "num_hidden_layers": 34, "sliding_window": 1024,
                                   "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                                   "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                                   "vocab_size": 262208},
                   "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "image_size": 896,
                                     "intermediate_size": 4304, "num_attention_heads": 16, "num_hidden_layers": 27,
                                     "patch_size": 14, "vision_use_head": False}},
    "mistral-small-3.1": {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3",
                          "image_token_index": 10, "multimodal_projector_bias": False, "projector_hidden_act": "gelu",
                          "spatial_merge_size": 2, "vision_feature_layer": -1, "tie_word_embeddings": False,
                          "text_config": {"head_dim": 128, "hidden_act": "silu", "hidden_size": 5120,
                                          "intermediate_size": 32768, "max_position_embeddings": 131072,
                                          "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 40,
                                          "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
                                          "rope_theta": 1000000000.0, "sliding_window": None, "vocab_size": 131072},
                          "vision_config": {"head_dim": 64, "hidden_act": "gelu", "hidden_size": 1024,
                                            "image_size": 1540, "intermediate_size": 4096, "model_type": "pixtral",
                                            "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14}},
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_language_models_match_transformers(name):
    raw = PUBLISHED[name]
    card = model_from_hf_config(dict(raw), f"{name}/config.json")
    assert count(card, 1, 1).params_by_group == language_model_counts(_build(raw))
