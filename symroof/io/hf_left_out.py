"""What a config.json sets that a card does not model, named in the card's ``left_out`` in words rather
than read as nothing in silence: a nonzero dropout (each class's own keys), the checkpoint's own
modelling code (``auto_map``), its stored weight format (``quantization_config``)."""

from __future__ import annotations

import re

from ..errors import CardError
from . import hf_keys_classic, hf_keys_classic2, hf_keys_recent2
from .hf_layouts import _short

# The dropouts each class's modelling code applies in training (others read attention_dropout only).
# An imported card trains without dropout masks (a card's dropout: true models them), so a nonzero
# one is named in the card's left_out rather than read as none in silence.
DROPOUT_KEYS = {"GPT2LMHeadModel": ("attn_pdrop", "resid_pdrop", "embd_pdrop"),
                "GPTNeoXForCausalLM": ("attention_dropout", "hidden_dropout"),
                "Phi3ForCausalLM": ("attention_dropout", "resid_pdrop"),
                "PhiForCausalLM": ("attention_dropout", "resid_pdrop", "embd_pdrop"),
                "Starcoder2ForCausalLM": ("attention_dropout", "residual_dropout", "embedding_dropout"),
                "FalconForCausalLM": ("attention_dropout", "hidden_dropout"),
                "SeedOssForCausalLM": ("attention_dropout", "residual_dropout"),
                "DbrxForCausalLM": ("attn_config.attn_pdrop", "resid_pdrop", "emb_pdrop")}   # emb_pdrop: stored, unused
DROPOUT_KEYS.update(hf_keys_classic2.DROPOUT_KEYS)      # GPT-J, CodeGen, StableLM, GPT-Neo
# GPT2Config's for all three when absent, SeedOssConfig's for both; the others' are 0
DROPOUT_DEFAULT = {"GPT2LMHeadModel": 0.1, "SeedOssForCausalLM": 0.1}
DROPOUT_KEYS.update(hf_keys_classic.DROPOUT_KEYS)        # MPT, BLOOM, OPT, GPTBigCode
DROPOUT_DEFAULT.update(hf_keys_classic.DROPOUT_DEFAULT)
DROPOUT_KEYS.update(hf_keys_recent2.DROPOUT_KEYS)        # Persimmon


_NAME = re.compile(r"[A-Za-z0-9_][\w.-]{0,99}")      # a module, class or method name printed as given


def left_out_notes(raw: dict, hf_class: str, where: str) -> list:
    """What the config sets that the card does not model, in words: a nonzero dropout; ``auto_map``,
    the checkpoint's own modelling code (transformers builds its own class of that name unless told
    to trust remote code, and the counts are that class's); ``quantization_config``, the format the
    checkpoint stores its weights in (counted as parameters; bytes follow the command's dtypes)."""
    given = []
    for key in DROPOUT_KEYS.get(hf_class, ("attention_dropout",)):
        value = raw.get(key, DROPOUT_DEFAULT.get(hf_class))
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= 1):       # NaN fails too
            raise CardError(f"{where}: key '{key}' must be a dropout probability from 0 to 1, got {_short(value)}")
        given += [f"{key} {value}"] if value else []
    notes = [f"dropout ({', '.join(given)}): counted as training without dropout masks"] if given else []
    for key, inner, what in (("auto_map", "AutoModelForCausalLM", "the checkpoint's own modelling code{} is not "
                              f"read; counted as transformers' {hf_class}"),
                             ("quantization_config", "quant_method", "the checkpoint's stored weight format{}; "
                              "parameters are counted as such, and bytes per parameter follow the command's dtypes")):
        value = raw.get(key)
        if value in (None, {}):
            continue
        if not isinstance(value, dict):
            raise CardError(f"{where}: key '{key}' must be a mapping or null, got {_short(value)}")
        name = value.get(inner)
        shown = f" ({name})" if isinstance(name, str) and _NAME.fullmatch(name) else ""
        notes.append(f"{key}: " + what.format(shown))
    return notes
