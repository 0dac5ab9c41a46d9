"""Model and chip cards: YAML files in ``models/`` read with a safe loader and checked strictly.

A card holds numbers only. Every key is known here with its type; a missing, unknown
or mistyped key is a ``CardError`` naming the file, the key and what is allowed.
Decimal numbers are read exactly (``"1.25e14"`` becomes the integer 125e12), so
nothing turns into a float before instantiation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from fractions import Fraction

from ..errors import CardError

ARCHITECTURES = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma2", "deepseek_v2", "deepseek_v3",
                 "qwen3_moe", "gemma3_text", "gpt2", "gpt_neox", "phi3", "olmo2", "gemma", "qwen2_moe", "gpt_oss",
                 "granite", "llama4_text", "glm4_moe", "phi", "starcoder2", "olmoe", "falcon",
                 "olmo3", "smollm3", "ministral", "ministral3", "glm4",
                 "cohere", "cohere2", "minimax_m2", "dots1", "ernie4_5_moe", "ernie4_5",
                 "deepseek_v32", "qwen3_next", "helium", "seed_oss", "exaone4", "arcee", "phimoe", "granitemoe",
                 "granitemoeshared", "hunyuan_v1_moe", "dbrx",
                 "mpt", "bloom", "opt", "gpt_bigcode",
                 "gptj", "codegen", "stablelm", "nemotron", "olmo", "gpt_neo",
                 "qwen3_5_text", "qwen3_5_moe_text",
                 "glm", "glm4_moe_lite", "glm_moe_dsa",
                 "vaultgemma", "hunyuan_v1_dense", "solar_open", "jais2", "cohere2_moe",
                 "exaone_moe",
                 "granite_swa", "granitemoe_swa", "persimmon", "apertus",
                 "nemotron_h", "falcon_h1", "bamba", "granitemoehybrid", "mamba2", "mamba", "jamba",
                 "cwm", "flex_olmo", "falcon_mamba", "bitnet", "afmoe", "youtu",
                 "lfm2", "lfm2_moe", "gemma4_text")
# Options of the layer layout: key -> allowed values (the first is the default).
CHOICES = {"mlp": ("gated", "plain"), "norm": ("rms", "layer", "nonparametric"), "norm_placement": ("pre", "post"),
           "qk_norm_width": ("head", "all"), "positions": ("rope", "learned", "alibi", "none"), "attention": ("mha", "mla")}


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelCard:
    """A Transformer's shapes and structure. Sizes are exact integers."""

    name: str
    architecture: str        # one of ARCHITECTURES; decides norms and defaults, never a count
    n_layers: int            # L
    d_model: int             # D
    d_ff: int                # F (per expert for MoE)
    n_heads: int             # N
    n_kv_heads: int          # K
    head_dim: int            # H (may differ from D / N)
    vocab: int               # V
    tie_embeddings: bool = False
    qkv_bias: bool = False   # bias on the q, k, v projections
    o_bias: bool = False     # bias on the attention output projection
    mlp_bias: bool = False   # bias on gate, up and down
    qk_norm: bool = False    # per-head RMSNorm on q and k (Qwen3)
    norms_per_layer: int = 2  # LLaMA 2 (pre-attn, pre-MLP); Gemma 2 has 4; 1: one norm feeds a parallel block (Phi)
    n_experts: int = 1       # E; 1 means a dense MLP
    experts_per_token: int = 1  # k
    # Layer layout (see CHOICES; every default is the LLaMA layer).
    mlp: str = "gated"       # gated: down(act(gate x) * up x); plain: down(act(up x)) (GPT)
    norm: str = "rms"        # rms: a weight; layer: LayerNorm, a weight and a bias
                             # nonparametric: LayerNorm without a weight or a bias (OLMo 1)
    norm_placement: str = "pre"   # pre: before attention and MLP; post: after them (OLMo 2)
    qk_norm_width: str = "head"   # head: one norm per head (Qwen3, Gemma); all: over all heads (OLMo 2)
    positions: str = "rope"  # rope; learned: a max_positions x d_model table added to the embeddings (GPT-2);
                             # alibi: a fixed bias on the scores (Falcon's alibi; elementwise, no weights);
                             # none: no position signal in any layer (Nemotron-H: order comes from its Mamba layers)
    max_positions: int = 0   # learned positions only
    rotary_pct: Fraction = Fraction(1)   # share of the head dim RoPE rotates (GPT-NeoX: 1/4)
    fused_qkv: bool = False  # q, k and v are one matrix (GPT-2, GPT-NeoX, Phi-3): same FLOPs, one input read
    fused_gate_up: bool = False   # gate and up are one matrix (Phi-3)
    parallel_residual: bool = False  # x + attn(norm1 x) + mlp(norm2 x) (GPT-NeoX, PaLM)
    head_bias: bool = False  # a bias of vocab on the unembedding (Phi)
    embedding_norm: bool = False  # a norm (of the card's kind) on the token embeddings (BLOOM)
    sub_norms: bool = False  # norms on the attention's output before o and the MLP's hidden before down (BitNet)
    activation_params: int = 0  # learned scalars in each MLP's activation (Apertus's xIELU: alpha_p, alpha_n)
    dropout: bool = False    # trained with dropout on the attention probabilities and on the attention
                             # and MLP outputs (GPT, Megatron-LM's defaults); training only, saves masks
    # Attention
    attention: str = "mha"   # mha (MHA, GQA, MQA) or mla (DeepSeek's multi-head latent attention)
    q_lora_rank: int = 0     # MLA: rank of the query's low-rank projection; 0 = a plain q projection
    kv_lora_rank: int = 0    # MLA: width of the compressed key/value latent
    rope_head_dim: int = 0   # MLA: decoupled RoPE dims per head (head_dim is the part without RoPE)
    v_head_dim: int = 0      # MLA: value head dim
    sliding_window: int = 0  # keys a sliding-window layer sees (0: no sliding layers)
    attention_chunk: int = 0  # tokens per chunk of a chunked layer: a query sees its own chunk's keys (Llama 4)
    attention_output_gate: bool = False  # attention output times sigmoid of a gate from q's doubled projection
    # Linear attention (Gated DeltaNet, a block type's attention: linear; Qwen3-Next); 0: none
    linear_key_heads: int = 0        # query/key heads
    linear_value_heads: int = 0      # value heads, a multiple of linear_key_heads
    linear_key_head_dim: int = 0
    linear_value_head_dim: int = 0
    linear_conv_kernel: int = 0      # taps of the depthwise causal conv on q, k and v
    # Mamba-2 mixer (block types with attention: mamba or hybrid; core/ssm.py); 0: none
    ssm_heads: int = 0       # heads, each with a ssm_head_dim x ssm_state state
    ssm_head_dim: int = 0    # d_inner = ssm_heads x ssm_head_dim
    ssm_state: int = 0       # d_state
    ssm_groups: int = 0      # groups of heads sharing one B and one C (n_groups); divides ssm_heads
    ssm_conv_kernel: int = 0  # taps of the depthwise causal conv on x, B and C
    ssm_conv_bias: bool = False   # a bias per conv channel
    ssm_in_bias: bool = False     # a bias on in_proj
    ssm_out_bias: bool = False    # a bias on out_proj
    ssm_norm: bool = True    # the gated RMSNorm over d_inner (false: the output times SiLU(z) only, Falcon-H1)
    ssm_dt_rank: int = 0     # > 0: the Mamba-1 mixer (x_proj, a dt_proj of this rank, A per channel and state), its
                             # d_inner channels as ssm_heads of ssm_head_dim 1 in 1 group; 0: Mamba-2
    ssm_inner_norms: bool = False  # Mamba-1: RMSNorms on the time step's rank-R input, B and C (Jamba)
    ssm_inner_norms_weightless: bool = False  # those norms without weights (FalconMamba's)
    # LFM2's short conv (block types with attention: shortconv; core/short_conv.py); 0: none
    short_conv_kernel: int = 0  # taps of its depthwise causal conv (conv_L_cache)
    short_conv_bias: bool = False  # biases on its in_proj, conv and out_proj
    # Gemma 4's attention (core/attention_gemma4.py): an unweighted RMSNorm on each value head; its full-attention
    # (global) layers' own head width and KV heads, and values taken from the key projection there
    value_norm: bool = False
    global_head_dim: int = 0  # 0: none (the global layers as the others)
    global_kv_heads: int = 0
    attention_k_eq_v: bool = False
    attention_sinks: bool = False  # a learned logit per query head joins each softmax row (gpt-oss)
    # DeepSeek Sparse Attention (DeepSeek-V3.2, block types with attention: indexed; core/attention_sparse.py)
    index_topk: int = 0      # keys the lightning indexer selects for each query
    index_heads: int = 0     # the indexer's heads
    index_head_dim: int = 0  # the indexer's head width, also its cached key's width per token
    # MoE
    d_ff_expert: int = 0     # routed expert width; 0 means d_ff (Mixtral)
    d_ff_shared: int = 0     # width of the always-on shared expert(s) together; 0 means none
    shared_expert_gate: bool = False  # the shared expert's output scaled by sigmoid(x·w), w of d_model (Qwen2-MoE)
    moe_bias: bool = False   # biases on the router and on every expert's gate, up and down (gpt-oss)
    router_bias: bool = False  # a bias of E beside the router only, shifting the top-k choice (ERNIE 4.5)
    moe_beside_mlp: bool = False  # the routed experts beside a dense MLP of d_ff, each normed, summed (Gemma 4)
    # Block types and their order (io/layers.py); empty: one type, "layer", x n_layers
    block_types: tuple = ()  # ((name, BlockType), ...)
    layers: tuple = ()       # ((name, count), ...) in order, counts summing to n_layers
    source: str = ""
    left_out: tuple = ()     # what the source has that this card does not model, in words (printed by count)
    path: str = ""

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def blocks(self) -> dict:
        """Block type name -> ``BlockType``, in the card's order."""
        return dict(self.block_types)

    def block_counts(self) -> dict[str, int]:
        """Layers of each block type, summed over the segments."""
        counts: dict[str, int] = {}
        for name, count in self.layers:
            counts[name] = counts.get(name, 0) + count
        return counts

    def sequence(self, seq: int | None, default: int | None = None) -> int:
        """A command's ``--seq`` where given; else its default (``DEFAULT_SEQ`` tokens), or the learned
        position table's length where that is shorter (GPT-2's 1024), which the commands print."""
        if seq is not None:
            return seq
        default = DEFAULT_SEQ if default is None else default
        return min(default, self.max_positions) if self.max_positions else default

    def check_positions(self, tokens: int | None, what: str = "--seq") -> None:
        """A learned position table ends at ``max_positions``: a longer sequence has no position to
        add, so it is refused rather than counted (a RoPE model has no such table)."""
        if tokens and self.max_positions and tokens > self.max_positions:
            raise CardError(f"{what} {tokens}: {self.name} has {self.max_positions} positions (max_positions, a "
                            f"learned table); {tokens} tokens exceed it by {tokens - self.max_positions}")


DEFAULT_SEQ = 4096         # the commands' --seq when none is given


_MODEL_INT_KEYS = ("n_layers", "d_model", "d_ff", "n_heads", "n_kv_heads", "head_dim", "vocab",
                   "norms_per_layer", "n_experts", "experts_per_token")
LINEAR_KEYS = ("linear_key_heads", "linear_value_heads", "linear_key_head_dim", "linear_value_head_dim",
               "linear_conv_kernel")
SSM_KEYS = ("ssm_heads", "ssm_head_dim", "ssm_state", "ssm_groups", "ssm_conv_kernel")
_MODEL_SIZE_KEYS = ("max_positions", "q_lora_rank", "kv_lora_rank", "rope_head_dim", "v_head_dim",
                    "sliding_window", "attention_chunk", "d_ff_expert", "d_ff_shared",      # 0 means "none"
                    "index_topk", "index_heads", "index_head_dim", "activation_params", *LINEAR_KEYS, *SSM_KEYS,
                    "ssm_dt_rank", "short_conv_kernel", "global_head_dim", "global_kv_heads")
_MODEL_BOOL_KEYS = ("tie_embeddings", "qkv_bias", "o_bias", "mlp_bias", "qk_norm", "fused_qkv", "fused_gate_up",
                    "parallel_residual", "dropout", "attention_sinks", "shared_expert_gate", "moe_bias",
                    "head_bias", "router_bias", "attention_output_gate", "embedding_norm", "sub_norms",
                    "ssm_conv_bias", "ssm_in_bias", "ssm_out_bias", "ssm_norm", "ssm_inner_norms",
                    "ssm_inner_norms_weightless", "short_conv_bias", "value_norm", "attention_k_eq_v",
                    "moe_beside_mlp")
_MAX_SIZE = 10**12           # no real width comes near; a larger one is a typo or hostile
_MODEL_REQUIRED = ("name", "architecture", "n_layers", "d_model", "d_ff", "n_heads", "n_kv_heads",
                   "head_dim", "vocab", "tie_embeddings", "source")


def model_from_dict(raw: dict, where: str) -> ModelCard:
    """Check a model mapping strictly and build the card. ``where`` names the file in errors."""
    from ..io import layers

    allowed = {f.name for f in fields(ModelCard)} - {"path"}
    _check_keys(raw, allowed, _MODEL_REQUIRED, where, extra_allowed={"kind"})
    values = {}
    for key in _MODEL_INT_KEYS:
        if key in raw:
            values[key] = _positive_int(raw[key], where, key)
            if values[key] > _MAX_SIZE:
                raise CardError(f"{where}: key '{key}' is out of range (at most 10^12), got {shown_value(raw[key])}")
    for key in _MODEL_SIZE_KEYS:
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SIZE:
                raise CardError(f"{where}: key '{key}' must be an integer from 0 (none) to 10^12, "
                                f"got {shown_value(value)}")
            values[key] = value
    for key, allowed_values in CHOICES.items():
        if key in raw:
            if raw[key] not in allowed_values:
                raise CardError(f"{where}: key '{key}' is {shown_value(raw[key])}; "
                                f"allowed: {', '.join(allowed_values)}")
            values[key] = raw[key]
    if "rotary_pct" in raw:
        values["rotary_pct"] = parse_number(raw["rotary_pct"], where, "rotary_pct")
        if not 0 < values["rotary_pct"] <= 1:
            raise CardError(f"{where}: key 'rotary_pct' must be in (0, 1], got {shown_value(raw['rotary_pct'])}")
    for key in _MODEL_BOOL_KEYS:
        if key in raw:
            if not isinstance(raw[key], bool):
                raise CardError(f"{where}: key '{key}' must be true or false, got {shown_value(raw[key])}")
            values[key] = raw[key]
    for key in ("name", "architecture", "source"):      # a name is printed as it is: printable, one line
        if not isinstance(raw[key], str) or not raw[key] or (key == "name" and not raw[key].isprintable()):
            raise CardError(f"{where}: key '{key}' must be a non-empty string{_PRINTABLE.get(key, '')}, "
                            f"got {shown_value(raw[key])}")
        values[key] = raw[key]
    if "left_out" in raw:
        given = raw["left_out"]
        if not isinstance(given, (list, tuple)) or not all(isinstance(x, str) and x.strip() for x in given):
            raise CardError(f"{where}: key 'left_out' must list what the card leaves out, in words, "
                            f"got {shown_value(given)}")
        values["left_out"] = tuple(given)
    if values["architecture"] not in ARCHITECTURES:
        raise CardError(f"{where}: key 'architecture' is {shown_value(values['architecture'])}; "
                        f"allowed: {', '.join(ARCHITECTURES)}")
    if "layers" in raw or "block_types" in raw:
        if "layers" not in raw or "block_types" not in raw:
            raise CardError(f"{where}: keys 'block_types' and 'layers' go together; one is missing")
        types = layers.block_types_from(raw["block_types"], where)
        values["block_types"] = tuple(types.items())
        values["layers"] = layers.segments_from(raw["layers"], types, where)
    else:
        types, segments = layers.default_layers(values["n_layers"], bool(values.get("sliding_window")),
                                                values.get("n_experts", 1) > 1, bool(values.get("attention_chunk")),
                                                bool(values.get("index_topk")))
        values["block_types"], values["layers"] = tuple(types.items()), segments
    card = ModelCard(**values, path=where)
    _check_model(card, where)
    layers.check_layers(card, where)
    return card


def changed_model(card: ModelCard, changes: dict, where: str) -> ModelCard:
    """``card`` with some keys changed (``reproduce --set n_kv_heads=8``), rebuilt through
    ``model_from_dict`` so a change gets every check a card's key gets (n_kv_heads must divide
    n_heads). A card on the default layer layout gets the default layout of its new numbers;
    a card that lists its layers keeps the list, so a changed n_layers must still match it."""
    from ..io import layers

    raw = {f.name: getattr(card, f.name) for f in fields(ModelCard)
           if f.name not in ("path", "block_types", "layers")}
    types, segments = layers.default_layers(card.n_layers, bool(card.sliding_window), card.is_moe,
                                            bool(card.attention_chunk), bool(card.index_topk))
    if (card.block_types, card.layers) != (tuple(types.items()), segments):
        if "n_layers" in changes and changes["n_layers"] != card.n_layers:
            raise CardError(f"{where}: key 'n_layers': {card.name} lists its layers ({card.n_layers} of "
                            f"{len(card.block_types)} kinds), so their number cannot change alone; "
                            f"give a card with the layers you want")
        raw.update(layers.layers_to_dict(card))
    raw.update(changes)
    raw["name"] = card.name + "*"
    return model_from_dict(raw, where)


def _check_model(card: ModelCard, where: str) -> None:
    """What one key allows depends on another (the layer layout's rules: io/layers.py)."""
    from ..io import layers

    layers.check_layout(card, where)
    if card.n_heads % card.n_kv_heads:
        raise CardError(f"{where}: key 'n_kv_heads' ({card.n_kv_heads}) must divide "
                        f"'n_heads' ({card.n_heads})")
    if card.experts_per_token > card.n_experts:
        raise CardError(f"{where}: key 'experts_per_token' ({card.experts_per_token}) must be at most "
                        f"'n_experts' ({card.n_experts})")
    if card.norms_per_layer not in (1, 2, 4):
        raise CardError(f"{where}: key 'norms_per_layer' must be 1, 2 or 4, got {card.norms_per_layer}")


# ----------------------------------------------------------------------------- checks

# [0-9], not \d: \d and int() take other scripts' digits ('٣' read as 3)
_NUMBER = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def _check_keys(raw: dict, allowed: set, required: tuple, where: str, extra_allowed=frozenset()):
    unknown = sorted(set(map(str, raw)) - allowed - set(extra_allowed))
    if unknown:
        raise CardError(f"{where}: unknown key '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}")
    missing = [key for key in required if key not in raw]
    if missing:
        raise CardError(f"{where}: missing key '{missing[0]}' (required: {', '.join(required)})")


_PRINTABLE = {"name": " of printable characters (no line break, NUL or bidi control)"}


def shown_value(value) -> str:
    """A value read from a file as an error quotes it: its repr, cut short (a file may hold megabytes)."""
    import reprlib

    shown = reprlib.Repr()
    shown.maxstring = shown.maxlong = shown.maxother = 60
    return shown.repr(value)


def shown_text(text: str) -> str:
    """A text as an error quotes it: whole when short, else its start and its length."""
    return repr(text) if len(text) <= 60 else f"{text[:30]!r}... ({len(text)} characters)"


def parse_number(value, where: str, key: str) -> Fraction:
    """An exact number from an int, a float or a decimal string; never evaluates text."""
    if isinstance(value, bool):
        raise CardError(f"{where}: key '{key}' must be a number, got {shown_value(value)}")
    if isinstance(value, (int, Fraction)):
        return _in_range(Fraction(value), value, where, key)
    if isinstance(value, float):
        # YAML turns '4.59e+14' into a float; its shortest repr is the decimal the author wrote.
        if value != value or value in (float("inf"), float("-inf")):
            raise CardError(f"{where}: key '{key}' must be a finite number, got {shown_value(value)}")
        return _in_range(Fraction(repr(value)), value, where, key)
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        mantissa, _, exponent = value.strip().lower().partition("e")
        # an exact 10**99999 would take minutes; a mantissa of thousands of digits cannot be read
        # (Python refuses integers of over 4300 digits) and no number in range needs a hundred
        if len(mantissa) > 100 or (exponent and abs(int(exponent)) > 300):
            raise CardError(f"{where}: key '{key}' is out of range, got {shown_text(value)}")
        return _in_range(Fraction(value.strip()), value, where, key)
    if isinstance(value, str) and _NUMBER.match(value.strip().removeprefix("-")):   # a number, below zero
        raise CardError(f"{where}: key '{key}' must not be negative, got {shown_value(value)}")
    raise CardError(f"{where}: key '{key}' must be a number (e.g. 1.25e14), got {shown_value(value)}")


# Numbers symroof reads are hardware and model sizes: far inside 1e-30 .. 1e30. Outside it, a
# step time or a reciprocal would overflow a float; refusing here keeps Infinity out of output.
_SMALLEST, _LARGEST = Fraction(1, 10 ** 30), Fraction(10 ** 30)


def _in_range(number: Fraction, value, where: str, key: str) -> Fraction:
    if number and not _SMALLEST <= abs(number) <= _LARGEST:
        raise CardError(f"{where}: key '{key}' is out of range (allowed: 1e-30 to 1e30 in size), "
                        f"got {shown_value(value)}")
    return number


def _positive_number(value, where: str, key: str) -> Fraction:
    number = parse_number(value, where, key)
    if number <= 0:
        raise CardError(f"{where}: key '{key}' must be positive, got {shown_value(value)}")
    return number


MAX_COUNT = 10**12           # a count on a card or in a runs file (links, chips, tokens): past any real one


def _count(value, where: str, key: str) -> int:
    """A positive integer of at most ``MAX_COUNT``: a larger one would overflow the floats it meets."""
    n = _positive_int(value, where, key)
    if n > MAX_COUNT:
        raise CardError(f"{where}: key '{key}' is out of range (at most 10^12), got an integer of {len(str(n))} digits")
    return n


def _positive_int(value, where: str, key: str) -> int:
    if type(value) is int and value > 0:      # the usual case (thousands a runs file), without a Fraction
        return value
    number = value if isinstance(value, Fraction) else None
    if number is None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CardError(f"{where}: key '{key}' must be a positive integer, got {shown_value(value)}")
        number = Fraction(value)
    if number.denominator != 1 or number <= 0:
        raise CardError(f"{where}: key '{key}' must be a positive integer, got {shown_value(value)}")
    return int(number)
