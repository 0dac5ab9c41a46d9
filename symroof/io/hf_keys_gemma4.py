"""Key tables of Gemma 4's text model (hf_layouts_gemma4), merged into ``hf_keys``' tables.

From transformers 5.24's ``configuration_gemma4.py`` and ``modeling_gemma4.py`` (read, never imported).
"""

from __future__ import annotations

GEMMA4 = "Gemma4ForCausalLM"

# RMSNorm eps; its tp/pp plans' keys are class attributes, not config keys
NEUTRAL_FOR = {GEMMA4: {"rms_norm_eps"}}
ACTIVATION_KEYS = {GEMMA4: ("hidden_activation",)}     # Gemma4TextMLP and its experts read hidden_activation only
