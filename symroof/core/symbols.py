"""The one symbol table. Every SymPy symbol symroof uses is declared here, once.

Each row: name (the Python name and the SymPy name), LaTeX, whether it is an integer
count, its unit (bytes are "B", FLOPs "FLOP"; "" for a pure number) and its meaning. All
symbols are positive: that is what makes ``solve`` return the single physical root. Read
the table against the book's notation (training.md at
https://github.com/jax-ml/scaling-book/blob/0819a7d/training.md): ``B`` is *sequences*
here, so the book's training-chapter ``B`` (tokens) is ``B*T``, and its ``N`` there
(chips) is ``n_chips``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class SymbolInfo:
    name: str
    latex: str
    integer: bool
    unit: str          # what one of it is: "chips", "B/s", "FLOP/s"; "" for a pure number
    meaning: str


#   name        LaTeX                        integer  unit            meaning
_TABLE = [
    # model shapes
    ("B",        "B",                          True,  "sequences",     "sequences per global batch"),
    ("T",        "T",                          True,  "tokens",        "query sequence length (tokens per sequence)"),
    ("S",        "S",                          True,  "tokens",        "key/value sequence length (S = T in training)"),
    ("D",        "D",                          True,  "",              "d_model, the residual width"),
    ("F",        "F",                          True,  "",              "d_ff, the MLP hidden width (per gate/up matrix)"),
    ("N",        "N",                          True,  "heads",         "query heads"),
    ("K",        "K",                          True,  "heads",         "key/value heads"),
    ("H",        "H",                          True,  "",              "head dimension"),
    ("L",        "L",                          True,  "layers",        "layers"),
    ("V",        "V",                          True,  "",              "vocabulary size"),
    ("E",        "E",                          True,  "experts",       "experts per MoE layer"),
    ("k",        "k",                          True,  "experts",       "experts each token is routed to"),
    ("F_e",      "F_e",                        True,  "",              "routed-expert MLP width, where it differs from F (DeepSeek, Qwen3-MoE)"),
    ("F_s",      "F_s",                        True,  "",              "shared-expert MLP width, all shared experts together"),
    ("w",        "w",                          True,  "tokens",        "sliding-window width: keys a query of a sliding layer sees"),
    ("w_c",      "w_c",                        True,  "tokens",        "attention chunk: a chunked layer's query sees the keys of its own chunk of w_c tokens"),
    ("R_q",      "R_q",                        True,  "",              "MLA: rank of the query's low-rank projection"),
    ("R_kv",     r"R_{\text{kv}}",             True,  "",              "MLA: width of the compressed key/value latent"),
    ("H_r",      "H_r",                        True,  "",              "MLA: decoupled RoPE dims per head"),
    ("H_v",      "H_v",                        True,  "",              "MLA: value head dimension"),
    ("N_idx",    r"N_{\text{idx}}",            True,  "heads",         "DSA: heads of the lightning indexer (DeepSeek-V3.2)"),
    ("H_idx",    r"H_{\text{idx}}",            True,  "",              "DSA: the indexer's head dimension, also its cached key's width per token"),
    ("k_idx",    r"k_{\text{idx}}",            True,  "tokens",        "DSA: keys the indexer selects for each query (index_topk)"),
    ("N_lk",     r"N_{\text{lk}}",             True,  "heads",         "linear attention (Gated DeltaNet): query/key heads"),
    ("N_lv",     r"N_{\text{lv}}",             True,  "heads",         "linear attention: value heads (each holds a H_lk x H_lv state)"),
    ("H_lk",     r"H_{\text{lk}}",             True,  "",              "linear attention: query/key head dimension"),
    ("H_lv",     r"H_{\text{lv}}",             True,  "",              "linear attention: value head dimension"),
    ("W_cv",     r"W_{\text{cv}}",             True,  "tokens",        "linear attention: the depthwise causal convolution's kernel width"),
    ("N_ssm",    r"N_{\text{ssm}}",            True,  "heads",         "Mamba-2 (SSD) mixer: heads, each holding a H_ssm x d_st state"),
    ("G_ssm",    r"G_{\text{ssm}}",            True,  "",              "Mamba-2 mixer: groups sharing one B and one C (n_groups)"),
    ("H_ssm",    r"H_{\text{ssm}}",            True,  "",              "Mamba-2 mixer: head dimension (d_inner = N_ssm·H_ssm)"),
    ("d_st",     r"d_{\text{st}}",             True,  "",              "Mamba-2 mixer: state size per head channel (d_state)"),
    ("W_ssm",    r"W_{\text{ssm}}",            True,  "tokens",        "Mamba-2 mixer: the depthwise causal convolution's kernel width"),
    ("R_ssm",    r"R_{\text{ssm}}",            True,  "",              "Mamba-1 mixer: rank of the time step's low-rank projection (dt_rank)"),
    ("K_g",      r"K_{\text{g}}",              True,  "heads",         "Gemma 4: key/value heads of its full-attention layers"),
    ("H_g",      r"H_{\text{g}}",              True,  "",              "Gemma 4: head dimension of its full-attention layers (global_head_dim)"),
    ("W_sc",     r"W_{\text{sc}}",             True,  "tokens",        "LFM2 short conv: the depthwise causal convolution's kernel width (conv_L_cache)"),
    ("V_pos",    r"V_{\text{pos}}",            True,  "tokens",        "positions in a learned position-embedding table"),
    ("rho",      r"\rho",                      False, "",              "share of each head's dims that RoPE rotates"),
    # chips and meshes
    ("n_chips",  r"N_{\text{chips}}",          True,  "chips",         "chips in the job"),
    ("n_pods",   r"P",                         True,  "pods",          "pods (ICI domains) joined over DCN"),
    ("X",        "X",                          True,  "chips",         "chips along the FSDP / data mesh axis"),
    ("Y",        "Y",                          True,  "chips",         "chips along the tensor-parallel mesh axis"),
    ("Z",        "Z",                          True,  "chips",         "chips along a third mesh axis (sequence or pipeline)"),
    ("M_X",      "M_X",                        True,  "",              "physical ICI axes spanned by mesh axis X"),
    ("M_Y",      "M_Y",                        True,  "",              "physical ICI axes spanned by mesh axis Y"),
    ("M_Z",      "M_Z",                        True,  "",              "physical ICI axes spanned by mesh axis Z"),
    ("n_stages", r"N_{\text{stages}}",         True,  "chips",         "pipeline stages (chips along the stage mesh axis)"),
    ("n_ep",     r"N_{\text{EP}}",             True,  "chips",         "chips along the expert-parallel mesh axis"),
    ("M_E",      "M_E",                        True,  "",              "physical ICI axes spanned by the expert mesh axis"),
    ("I_X",      "I_X",                        True,  "chips",         "chips of mesh axis X in one fast (NVLink) domain, where X spans domains"),
    ("I_Y",      "I_Y",                        True,  "chips",         "chips of mesh axis Y in one fast (NVLink) domain, where Y spans domains"),
    ("I_Z",      "I_Z",                        True,  "chips",         "chips of mesh axis Z in one fast (NVLink) domain, where Z spans domains"),
    ("I_E",      "I_E",                        True,  "chips",         "chips of the expert mesh axis in one fast (NVLink) domain, where it spans domains"),
    ("n_micro",  r"n_{\text{micro}}",          True,  "microbatches",  "pipeline microbatches per step"),
    ("n_virtual", r"v",                         True,  "",              "virtual pipeline stages (model chunks) per chip, interleaved schedule"),
    ("w_F",      r"F_{\text{chunk}}",          False, "FLOP",          "a pipeline chunk's forward work (DeepSeek-V3's F)"),
    ("w_B",      r"B_{\text{chunk}}",          False, "FLOP",          "a pipeline chunk's whole backward work, a replayed forward included (DeepSeek-V3's B)"),
    ("w_W",      r"W_{\text{chunk}}",          False, "FLOP",          "the weight-gradient share of w_B (DeepSeek-V3's W: backward for weights)"),
    ("r_kv",     r"r_{\text{kv}}",             True,  "chips",         "tensor chips holding one replicated KV head: tensor degree / K above K, else 1"),
    # hardware
    ("C",        "C",                          False, "FLOP/s",        "peak FLOPs/s per chip"),
    ("W_hbm",    r"W_{\text{hbm}}",            False, "B/s",           "HBM bandwidth per chip, bytes/s"),
    ("W_ici",    r"W_{\text{ici}}",            False, "B/s",           "ICI bandwidth per chip per mesh axis, bidirectional, bytes/s"),
    ("W_dcn",    r"W_{\text{dcn}}",            False, "B/s",           "DCN (scale-out) bandwidth per chip, bytes/s"),
    ("M_hbm",    r"M_{\text{hbm}}",            False, "B",             "HBM capacity per chip, bytes"),
    ("t_hop",    r"T_{\text{min}}",            False, "s",             "latency of one ICI hop, seconds"),
    # numeric formats and run settings
    ("b_param",  r"b_{\text{param}}",          False, "B",             "bytes per parameter element"),
    ("b_act",    r"b_{\text{act}}",            False, "B",             "bytes per activation element"),
    ("b_mask",   r"b_{\text{mask}}",          False, "B",             "bytes per element of a saved dropout mask"),
    ("b_kv",     r"b_{\text{kv}}",             False, "B",             "bytes per KV-cache element"),
    ("b_grad",   r"b_{\text{grad}}",           False, "B",             "bytes per gradient element kept between steps"),
    ("b_opt",    r"b_{\text{opt}}",            False, "B",             "optimizer-state bytes per parameter (Adam: two moments)"),
    ("n_ckpt",   r"n_{\text{ckpt}}",           False, "",              "activation checkpoints saved per layer, each [B, T, D]"),
    ("f_rc",     r"f_{\text{rc}}",             False, "",              "share of the layers that replay forward ops (a recompute policy's); the rest keep every tensor"),
    ("n_tokens", r"N_{\text{tokens}}",         False, "tokens",        "training tokens in the whole run"),
    ("mfu",      r"\text{MFU}",                False, "",              "model FLOPs utilisation"),
    # counts a worked problem gives directly (the book's sections 1-3)
    ("n_flops",  r"N_{\text{FLOPs}}",          False, "FLOP",          "FLOPs of a job, as a problem states them"),
    ("n_params", r"N_{\text{params}}",         False, "params",        "parameters of a model, as a problem states them"),
    ("chips_per_host", r"N_{\text{host}}",     True,  "chips",         "chips per host"),
    ("links_per_axis", r"n_{\text{links}}",    True,  "",              "ICI links a chip uses along one axis"),
]

SYMBOLS: dict[str, sp.Symbol] = {}
INFO: dict[str, SymbolInfo] = {}
for _name, _latex, _integer, _unit, _meaning in _TABLE:
    SYMBOLS[_name] = sp.Symbol(_name, positive=True, integer=_integer or None)
    INFO[_name] = SymbolInfo(_name, _latex, _integer, _unit, _meaning)

B, T, S, D, F, N, K, H, L, V, E, k = (SYMBOLS[n] for n in "B T S D F N K H L V E k".split())
n_chips, n_pods, X, Y, Z = (SYMBOLS[n] for n in ("n_chips", "n_pods", "X", "Y", "Z"))
M_X, M_Y, M_Z, n_micro, n_virtual = (SYMBOLS[n] for n in ("M_X", "M_Y", "M_Z", "n_micro", "n_virtual"))
n_stages, n_ep, M_E, r_kv = (SYMBOLS[n] for n in ("n_stages", "n_ep", "M_E", "r_kv"))
w_F, w_B, w_W = (SYMBOLS[n] for n in ("w_F", "w_B", "w_W"))
C, W_hbm, W_ici, W_dcn, M_hbm = (SYMBOLS[n] for n in ("C", "W_hbm", "W_ici", "W_dcn", "M_hbm"))
t_hop = SYMBOLS["t_hop"]
b_mask = SYMBOLS["b_mask"]
b_param, b_act, b_grad, b_opt, b_kv = (SYMBOLS[n] for n in ("b_param", "b_act", "b_grad", "b_opt", "b_kv"))
n_ckpt, n_tokens, mfu = (SYMBOLS[n] for n in ("n_ckpt", "n_tokens", "mfu"))
f_rc = SYMBOLS["f_rc"]
F_e, F_s, w, w_c, R_q, R_kv, H_r, H_v, V_pos, rho = (SYMBOLS[n] for n in
                                                      ("F_e", "F_s", "w", "w_c", "R_q", "R_kv", "H_r", "H_v", "V_pos", "rho"))
N_idx, H_idx, k_idx = (SYMBOLS[n] for n in ("N_idx", "H_idx", "k_idx"))

N_lk, N_lv, H_lk, H_lv, W_cv = (SYMBOLS[n] for n in ("N_lk", "N_lv", "H_lk", "H_lv", "W_cv"))
N_ssm, G_ssm, H_ssm, d_st, W_ssm, R_ssm = (SYMBOLS[n] for n in ("N_ssm", "G_ssm", "H_ssm", "d_st", "W_ssm", "R_ssm"))
W_sc, K_g, H_g = (SYMBOLS[n] for n in ("W_sc", "K_g", "H_g"))

LATEX_NAMES: dict[sp.Symbol, str] = {SYMBOLS[n]: INFO[n].latex for n in SYMBOLS}


def layers(block: str) -> sp.Symbol:
    """The count of one block type's layers: ``L`` for a uniform model's ``layer``, else ``L_<block>``.

    Block names come from model structures, so these symbols are declared on first use, each
    once, with the same assumptions as ``L``.
    """
    if block == "layer":
        return L
    name = f"L_{block}"
    if name not in SYMBOLS:
        if not block.replace("_", "").isalnum():
            raise ValueError(f"block name {block!r} must be letters, digits and '_'")
        SYMBOLS[name] = sp.Symbol(name, positive=True, integer=True)
        INFO[name] = SymbolInfo(name, rf"L_{{\text{{{block.replace('_', ' ')}}}}}", True,
                                "layers", f"layers of block type {block!r}")
        LATEX_NAMES[SYMBOLS[name]] = INFO[name].latex
    return SYMBOLS[name]


def symbol(name: str) -> sp.Symbol:
    """The symbol called ``name``; raises ``UnknownNameError`` listing the table."""
    try:
        return SYMBOLS[name]
    except KeyError:
        from ..errors import UnknownNameError

        raise UnknownNameError(f"unknown symbol {name!r}; known: {', '.join(SYMBOLS)}") from None
