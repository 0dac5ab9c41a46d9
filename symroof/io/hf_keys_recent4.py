"""Key tables of later readings (Qwen3-VL's ``sliding_window``, ...), merged into ``hf_keys``' tables; the
classes added after hf_keys_recent3's go here too.

Each entry means what the same table of ``hf_keys`` means. What each key means is from transformers 5.24's
``configuration_*.py`` / ``modeling_*.py`` of the class (read, never imported).
"""

from __future__ import annotations

# Qwen3-VL and Qwen3-VL-MoE (their language models, read inside the wrappers of hf_wrappers): neither attention reads
# sliding_window (Qwen3VLTextAttention deletes it, Qwen3-VL-MoE's never sets it; no sliding mask is built), and
# Qwen3-VL-MoE's own save_pretrained writes it null. A value is kept on the config, though, and transformers 5.24's
# DynamicCache then keeps only the last sliding_window - 1 keys of every layer (cache_utils.get_layer_types_and_kwargs)
# while the attention masks none: a mix a card does not model, so only null is read.
_WINDOW = {"sliding_window": (lambda value, raw: value is None, "null",
                              "its attention never reads it, but with a value transformers' cache keeps only the last "
                              "sliding_window - 1 keys of every layer while attending to all")}
NEUTRAL_ONLY_FOR = {"Qwen3VLTextModel": dict(_WINDOW), "Qwen3VLMoeTextModel": dict(_WINDOW)}
