"""What a count of a model with sliding-window, chunked or sparse (DSA) layers assumed, in words (printed with it).

Both conventions are named: ``causal`` counts the (query, key) pairs the layer's mask allows,
``full`` every pair of the T x T score matrix, as eager PyTorch computes whatever the mask.
"""

from __future__ import annotations


def _layers_of(card, kind: str) -> int:
    return sum(n for name, n in card.layers if card.blocks[name].attention == kind)


def window_notes(card, seq: int, attention: str) -> tuple[str, ...]:
    """Sliding-window layers: query t (1-based) sees min(t, w) keys."""
    sliding = _layers_of(card, "sliding")
    if not sliding:
        return ()
    w = card.sliding_window
    where = f"{sliding} of {card.n_layers} layers slide (window w = {w} keys)"
    if w >= seq:
        return (f"{where}; the window covers the {seq}-token context, so they count as global layers",)
    pairs = seq * w - w * (w - 1) // 2
    return _limited(where, seq, attention, pairs, "the window allows", "T·w − w(w−1)/2",
                    " (Σ over queries of min(t, w))")


def chunk_notes(card, seq: int, attention: str) -> tuple[str, ...]:
    """Chunked layers (Llama 4): a query sees the earlier keys of its own chunk of w_c tokens."""
    chunked = _layers_of(card, "chunked")
    if not chunked:
        return ()
    c = card.attention_chunk
    where = f"{chunked} of {card.n_layers} layers attend in chunks (w_c = {c} tokens)"
    if c >= seq:
        return (f"{where}; one chunk covers the {seq}-token context, so they count as global layers",)
    whole, tail = divmod(seq, c)
    pairs = whole * c * (c + 1) // 2 + tail * (tail + 1) // 2
    return _limited(where, seq, attention, pairs, "the chunks allow",
                    f"⌊T/w_c⌋·w_c(w_c+1)/2 + r(r+1)/2 with r = T mod w_c = {tail}")


def _limited(where: str, seq: int, attention: str, pairs: int, allowed: str, rule: str, why: str = "") -> tuple[str]:
    """The note of a layer kind whose mask allows ``pairs`` of the T² (query, key) pairs, by ``rule``
    (``why`` follows it under causal), under either convention."""
    how = {"causal": f"causal counts the {pairs} (query, key) pairs {allowed} per sequence and head, {rule}{why}; "
                     f"--attention full counts all T² = {seq * seq}, as eager PyTorch computes",
           "full": f"full counts all T² = {seq * seq} (query, key) pairs per sequence and head, as eager PyTorch "
                   f"computes; --attention causal counts the {pairs} {allowed}, {rule}"}[attention]
    return (f"{where}; {how}",)


def indexed_notes(card, seq: int, attention: str) -> tuple[str, ...]:
    """DeepSeek's sparse attention (core/attention_sparse.py): query t attends to min(t, k) keys its indexer picks."""
    indexed = _layers_of(card, "indexed")
    if not indexed:
        return ()
    k = card.index_topk
    m = min(k, seq)
    pairs = seq * m - m * (m - 1) // 2
    where = (f"{indexed} of {card.n_layers} layers attend to the {k} keys a lightning indexer selects per query "
             f"({card.index_heads} indexer heads of {card.index_head_dim}, run without gradients)")
    rule = "T·m − m(m−1)/2 with m = min(k, T)"
    how = {"causal": f"causal counts the {pairs} (query, key) pairs attended per sequence and head, {rule}, and the "
                     f"indexer's scores over the {seq * (seq + 1) // 2} pairs the causal mask allows; --attention full "
                     f"counts all T² = {seq * seq} for both, as transformers' eager path computes (a mask, dense)",
           "full": f"full counts all T² = {seq * seq} (query, key) pairs per sequence and head for attention and "
                   f"indexer, as transformers' eager path computes (the selection is a mask on dense attention); "
                   f"--attention causal counts the {pairs} attended, {rule}"}[attention]
    return (f"{where}; {how}",)
