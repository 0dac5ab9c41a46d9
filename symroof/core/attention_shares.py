"""The share of the T×S score matrix a sliding (window) or chunked layer computes usefully (blocks.py's
attention, graph.py's FLOPs)."""

from __future__ import annotations

import sympy as sp

from .symbols import w, w_c


def window_share(sizes: dict, phase: str) -> sp.Expr:
    """The share of the T×S score matrix a causal sliding window of w keys computes usefully.

    Query t (1-based, T ≥ w) sees min(t, w) keys: Σ_t min(t, w) = T·w − w(w−1)/2 pairs of T·S
    (S = T when the whole sequence is new). In decode the one new query sees the last w of S.
    With ``min(w, T)`` the count stays exact for a window longer than the sequence; ``count``
    clamps such a window earlier (``blocks_of``), so the layer's FLOPs count as a global one's
    (its cache still keeps w - 1 keys: ``window_cache``).
    """
    t, s = sizes["T"], sizes["S"]
    if phase == "decode":
        return sp.Min(w, s) / s
    m = sp.Min(w, t)          # a window longer than the sequence: every earlier key, T(T+1)/2 pairs
    return (t * m - m * (m - 1) / 2) / (t * s)


def chunk_share(sizes: dict, phase: str, attention: str) -> sp.Expr:
    """The share of the T×S score matrix a chunked layer (chunks of w_c tokens) computes usefully.

    A query at 0-based position p sees the keys of its own chunk, positions ⌊p/w_c⌋·w_c to p
    (transformers 5.24 masking_utils.py: ``chunked_overlay`` and'ed with the causal mask). Over T
    new tokens: n = ⌊T/w_c⌋ whole chunks of w_c(w_c+1)/2 pairs and a tail of r = T − n·w_c tokens
    with r(r+1)/2, exact for T < w_c (n = 0), T a multiple of w_c (r = 0) and a tail.

    In decode the new token is at p = S − 1 and sees its chunk's (p mod w_c) + 1 = S − w_c·⌊(S−1)/w_c⌋
    keys (``causal``). Eager attention (``full``) computes its scores against every key transformers
    hands it: a chunked layer's cache is a sliding window's (cache_utils.py, ``DYNAMIC_LAYER_TYPE_MAPPING``:
    "chunked_attention" is ``DynamicSlidingWindowLayer`` of window w_c), w_c − 1 cached keys and the
    new one, min(w_c, S), the mask zeroing those of earlier chunks. ``count`` clamps a chunk as long
    as the context earlier (``blocks_of``), so the layer counts as a global one.
    """
    t, s = sizes["T"], sizes["S"]
    if phase == "decode":
        return (s - w_c * sp.floor((s - 1) / w_c) if attention == "causal" else sp.Min(w_c, s)) / s
    n = sp.floor(t / w_c)
    r = t - n * w_c
    return (n * w_c * (w_c + 1) / 2 + r * (r + 1) / 2) / (t * s)
