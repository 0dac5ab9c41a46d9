"""Vision-language ``*ForConditionalGeneration`` configs: their language model, read from ``text_config``.

A wrapper config names a vision tower (``vision_config``), a multimodal projector (its own keys)
and a language model (``text_config``). symroof reads the language model as the class its
``text_config`` names (``model_type``; absent: the wrapper's default), through the same tables
as a plain ``config.json`` (``hf.py``), and names the vision tower and projector as left out.
What each wrapper builds is from its transformers 5.x ``configuration_*.py`` / ``modeling_*.py``
(read, never imported): ``model.language_model`` is the text class's base model and ``lm_head``
is a ``text_config.hidden_size`` x ``text_config.vocab_size`` matrix without a bias, tied to the
language model's ``embed_tokens`` when ``tie_word_embeddings`` says so.

- Gemma 3: ``text_config`` is always built as ``gemma3_text`` (its model_type may only say so). Gemma 4: the
  same as ``gemma4_text`` (hf_layouts_gemma4); its audio tower (``audio_config``) is left out beside the vision one.
- Mistral 3 (Mistral Small 3.1), LLaVA: ``text_config`` of any class (default ``mistral``,
  ``llama``). With no ``text_config`` at all transformers fills in a reference model's sizes, so
  it is required.
- Qwen2.5-VL: the text sizes sit at the top level in files saved before ``text_config`` (as
  transformers reads them when ``text_config`` is absent); its text model (``qwen2_5_vl_text``) is
  Qwen2's decoder with multimodal RoPE (positions only, no weights).
- Qwen3-VL and Qwen3-VL-MoE: ``text_config`` is always built as ``qwen3_vl_text`` (Qwen3's decoder) or
  ``qwen3_vl_moe_text`` (Qwen3-MoE's), with multimodal RoPE (positions only); the vision tower's deepstack
  features are added to the first layers' hidden states (elementwise, images only). Only the wrapper's
  ``tie_word_embeddings`` is read by 5.x (default false).
- Qwen3.5 and Qwen3.5-MoE: as Qwen3-VL's, their ``text_config`` always built as ``qwen3_5_text`` or
  ``qwen3_5_moe_text`` (hf_layouts_hybrid), with multimodal RoPE (positions only); only the wrapper's
  ``tie_word_embeddings`` is read (default false).
- Llama 4: ``text_config`` is always built as ``llama4_text`` (``Llama4ForCausalLM``, read by
  ``hf_layouts_moe.llama4``); its language model holds its own ``lm_head``.

``tie_word_embeddings``: transformers 5.x reads the wrapper's key (LLaVA and Qwen2.5-VL: the
wrapper's or the text_config's; Llama 4: the text_config's only, a wrapper's that differs is
named as not read); 4.x read the text_config's. Where the wrapper leaves it out, the
text_config's value (given, or its class default) is read, and a difference from what 5.x's
``from_config`` would build is named in the card's left_out (5.x's ``from_pretrained`` keeps an
``lm_head`` the checkpoint stores, tied or not).

Errors from the language model's keys name them ``text_config.<key>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import CardError
from .hf_keys import NEUTRAL, SIZE_KEYS, SPELLING
from .hf_layouts import _short
from .hf_left_out import left_out_notes


@dataclass(frozen=True)
class Wrapper:
    """How one wrapper class holds its language model."""

    model_type: str              # the wrapper's own model_type
    text_type: str               # text_config's model_type when it names none (the class transformers uses)
    fixed_text: bool             # transformers builds text_config as text_type whatever its model_type says
    tie: bool                    # the wrapper's tie_word_embeddings default (5.x)
    tie_either: bool             # 5.x ties when the wrapper or text_config says so (LLaVA, Qwen2.5-VL)
    vision: tuple                # keys of the vision tower and the projector: not counted, named
    neutral: tuple               # the wrapper's keys that change no count (token ids)
    flat: bool = False           # text sizes at the top level when text_config is absent (Qwen2.5-VL)
    text_tie: bool = False       # only text_config's tie_word_embeddings is read (Llama 4: its language model
                                 # is a whole Llama4ForCausalLM, lm_head included, built from text_config)


_QWEN3_VL_TOKENS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
WRAPPERS = {
    "Gemma3ForConditionalGeneration": Wrapper(
        "gemma3", "gemma3_text", True, True, False, ("vision_config", "mm_tokens_per_image"),
        ("boi_token_index", "eoi_token_index", "image_token_index", "boi_token_id", "eoi_token_id", "image_token_id")),
    "Gemma4ForConditionalGeneration": Wrapper(       # its audio tower and both towers' embedders left out too
        "gemma4", "gemma4_text", True, True, False, ("vision_config", "audio_config"),
        ("boi_token_id", "eoi_token_id", "image_token_id", "video_token_id", "boa_token_id", "eoa_token_index",
         "audio_token_id")),
    "Mistral3ForConditionalGeneration": Wrapper(
        "mistral3", "mistral", False, True, False,
        ("vision_config", "projector_hidden_act", "multimodal_projector_bias", "vision_feature_layer",
         "spatial_merge_size"), ("image_token_index", "image_token_id")),
    "LlavaForConditionalGeneration": Wrapper(
        "llava", "llama", False, False, True,
        ("vision_config", "projector_hidden_act", "multimodal_projector_bias", "vision_feature_layer",
         "vision_feature_select_strategy", "image_seq_length"),
        ("image_token_index", "image_token_id", "ignore_index")),
    "Qwen2_5_VLForConditionalGeneration": Wrapper(
        "qwen2_5_vl", "qwen2_5_vl_text", True, False, True, ("vision_config",),
        ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id", "vision_token_id"),
        flat=True),
    "Llama4ForConditionalGeneration": Wrapper(
        "llama4", "llama4_text", True, False, False,
        ("vision_config",), ("boi_token_index", "eoi_token_index", "image_token_index", "image_token_id",
                             "boi_token_id", "eoi_token_id"), text_tie=True),
    "Qwen3VLForConditionalGeneration": Wrapper(
        "qwen3_vl", "qwen3_vl_text", True, False, False, ("vision_config",), _QWEN3_VL_TOKENS),
    "Qwen3VLMoeForConditionalGeneration": Wrapper(
        "qwen3_vl_moe", "qwen3_vl_moe_text", True, False, False, ("vision_config",), _QWEN3_VL_TOKENS),
}
# The wrappers tie lm_head to model.language_model.embed_tokens: text classes whose base model
# names its embedding otherwise (GPT-2's wte, GPT-NeoX's embed_in) are not read inside one.
NOT_INSIDE = ("gpt2", "gpt_neox")
_KEY = re.compile(r"(\bkeys? )?'([A-Za-z_][A-Za-z0-9_]*)'")


def names(raw: dict) -> str | None:
    """The wrapper class ``architectures`` names, or None."""
    given = raw.get("architectures")
    if isinstance(given, list) and len(given) == 1 and given[0] in WRAPPERS:
        return given[0]
    return None


def language_model(raw: dict, hf_class: str, where: str, text_classes: dict) -> tuple[dict, str, list, str]:
    """The text config to read (tie_word_embeddings decided), the class it is read as, the notes
    (what is left out), and the prefix its keys are named with in errors ('text_config.' or '').
    ``text_classes``: each readable text model_type -> (the class it is read as, its tie default)."""
    wrapper = WRAPPERS[hf_class]
    if raw.get("model_type", wrapper.model_type) != wrapper.model_type:
        raise CardError(f"{where}: key 'model_type' is {_short(raw['model_type'])} but architectures names {hf_class}; "
                        f"allowed: {wrapper.model_type!r}")
    own = {"text_config", "tie_word_embeddings", *wrapper.vision, *wrapper.neutral}
    nested = raw.get("text_config")
    if nested is None and not wrapper.flat:
        raise CardError(f"{where}: missing key 'text_config' (the language model of {hf_class}; without it "
                        "transformers fills in a reference model's sizes)")
    if nested is not None and not isinstance(nested, dict):
        raise CardError(f"{where}: key 'text_config' must be a mapping of the language model's keys, "
                        f"got {_short(nested)}")
    vision = raw.get("vision_config")
    if vision is not None and not isinstance(vision, dict):
        raise CardError(f"{where}: key 'vision_config' must be a mapping or null, got {_short(vision)}")
    top = {key: value for key, value in raw.items() if key not in own}
    if nested is None:                 # Qwen2.5-VL saved flat: the language model's keys are the top level's
        text, prefix = {key: value for key, value in top.items() if key not in ("architectures", "model_type")}, ""
    else:
        text, prefix = dict(nested), "text_config."
        for key, value in top.items():
            if key in NEUTRAL or key.startswith("_"):
                continue
            if key in text and text[key] == value:    # a copy of text_config's (older saves keep both)
                continue
            raise CardError(f"{where}: unknown key '{key}' for {hf_class} beside text_config; symroof reads the "
                            f"language model from text_config (allowed at the top level: {', '.join(sorted(own))}, "
                            "and Hugging Face metadata keys)")
    text_type = text.get("model_type", wrapper.text_type)
    if wrapper.fixed_text and text_type != wrapper.text_type:
        raise CardError(f"{where}: key '{prefix}model_type' is {_short(text_type)}; {hf_class} builds its language "
                        f"model as {wrapper.text_type!r} whatever it says (allowed: {wrapper.text_type!r})")
    readable = {t: c for t, (c, _) in text_classes.items() if t not in NOT_INSIDE}
    if text_type not in readable:
        raise CardError(f"{where}: key '{prefix}model_type' is {_short(text_type)}: {hf_class}'s language model is "
                        f"of a class symroof does not read; allowed: {', '.join(readable)}")
    text_class = readable[text_type]
    text.pop("model_type", None)       # checked here; the class is read from text_classes
    for key in SIZE_KEYS:
        key = SPELLING.get(text_class, {}).get(key, key)
        if key and key not in text:      # None: the class has no such key (Qwen3.5-MoE's intermediate_size)
            raise CardError(f"{where}: missing key '{prefix}{key}': {hf_class}'s language model ({text_type}) "
                            "needs it; "
                            f"transformers would fill in the default of its {text_type} config class, a reference "
                            "model's constant")
    notes = [_left_out(raw, hf_class, wrapper)]
    tie, note = _tie(raw, text, hf_class, wrapper, text_classes[text_type][1], prefix, where)
    text["tie_word_embeddings"] = tie
    notes += [note] if note else []
    notes += left_out_notes({k: v for k, v in raw.items() if k in ("auto_map", "quantization_config")} if prefix
                            else {}, hf_class, where)
    return text, text_class, notes, prefix


def _left_out(raw: dict, hf_class: str, wrapper: Wrapper) -> str:
    given = [key for key in wrapper.vision if key in raw]
    return (f"vision tower and multimodal projector{' (' + ', '.join(given) + ')' if given else ''} not counted: "
            f"only the language model of {hf_class} is read")


def _tie(raw: dict, text: dict, hf_class: str, wrapper: Wrapper, text_default: bool, prefix: str, where: str):
    """tie_word_embeddings: the wrapper's where it says (5.x), else the text_config's (4.x)."""
    for source, key in ((raw, "tie_word_embeddings"), (text, "tie_word_embeddings")):
        if key in source and not isinstance(source[key], bool):
            name = key if source is raw else f"{prefix}{key}"
            raise CardError(f"{where}: key '{name}' must be true or false, got {_short(source[key])}")
    if not prefix:                     # flat: the top level's key is the language model's too
        return raw.get("tie_word_embeddings", wrapper.tie), None
    inner = text.get("tie_word_embeddings", text_default)
    if wrapper.text_tie:
        outer = raw.get("tie_word_embeddings", inner)
        return inner, None if outer == inner else (
            f"tie_word_embeddings ({str(outer).lower()}) at the top level not read: {hf_class}'s language model ties "
            f"its lm_head as its text_config says ({'tied' if inner else 'untied'})")
    if "tie_word_embeddings" in raw:
        outer = raw["tie_word_embeddings"]
        return (outer or inner) if wrapper.tie_either else outer, None
    v5 = (wrapper.tie or inner) if wrapper.tie_either else wrapper.tie
    if inner == v5:
        return inner, None
    said = "says" if "tie_word_embeddings" in text else "leaves to its class default"
    return inner, (f"{hf_class}'s own tie_word_embeddings default ({'tied' if v5 else 'untied'}, transformers 5.x's "
                   f"from_config; the file leaves it out): read {'tied' if inner else 'untied'}, as its text_config "
                   f"{said}, as transformers 4.x reads it (5.x's from_pretrained keeps an lm_head the checkpoint "
                   "stores)")


def text_config_error(err: CardError, where: str, text: dict, prefix: str) -> CardError:
    """``err`` from reading the language model, with its config keys named ``text_config.<key>``."""
    message = str(err)
    if not prefix or not message.startswith(f"{where}: "):
        return err
    head, body = message[:len(where) + 2], message[len(where) + 2:]

    def named(m):
        key = m.group(2)
        if m.group(1) or key in text or key in SIZE_KEYS:
            return f"{m.group(1) or ''}'{prefix}{key}'"
        return m.group(0)
    return CardError(head + _KEY.sub(named, body))


# Qwen3.5 and Qwen3.5-MoE (configuration_qwen3_5.py, configuration_qwen3_5_moe.py: Qwen3-VL's wrapper)
WRAPPERS.update({
    "Qwen3_5ForConditionalGeneration": Wrapper(
        "qwen3_5", "qwen3_5_text", True, False, False, ("vision_config",), _QWEN3_VL_TOKENS),
    "Qwen3_5MoeForConditionalGeneration": Wrapper(
        "qwen3_5_moe", "qwen3_5_moe_text", True, False, False, ("vision_config",), _QWEN3_VL_TOKENS),
})
