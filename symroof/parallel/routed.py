"""MoE dispatch and combine where an axis splits the tokens' D but not their routed copies'
(``axes.whole_per_copy``): the elementwise cases of ``sharding.py`` for those two ops.

``sharding._resolve`` leaves a partial sum on routed copies unreduced (``_State.pending``): the
combine (forward) and the dispatch's backward sum the k copies of a token linearly, so the
reduction moves to the tokens, k times fewer bytes.
"""

from __future__ import annotations

from . import axes as axis_table


def collectives(out_ref, ref, src, dst, src_dims, dst_dims, phase, st, width) -> list:
    """Tokens and their routed copies where an axis splits the tokens' D but not the copies'
    (axes.whole_per_copy): the dispatch gathers the tokens (the router's gather, shared) and its
    backward reduce-scatters their gradient; the combine reduce-scatters the experts' partial sums
    once the k copies are summed into tokens, and its backward gathers dy."""
    from .sharding import Collective, _local

    colls = []
    dy = f"d({out_ref})"
    for axis in sorted(set(src) ^ set(dst)):
        if axis in src and axis_table.ROUTED in dst_dims:          # tokens to copies: gather them
            tensor = ref if phase == "forward" else dy
            if (tensor, axis) not in st.gathered:
                st.gathered.add((tensor, axis))
                rest = {a: d for a, d in src.items() if a != axis}
                colls.append(Collective("AllGather", (axis,), tensor, _local(src_dims, rest, st) * width))
        elif axis in dst and ((ref if phase == "forward" else dy), axis) in st.pending:  # copies summed
            tensor = out_ref if phase == "forward" else f"d({ref})"
            if (tensor, axis) not in st.reduced:
                st.reduced.add((tensor, axis))
                rest = {a: d for a, d in dst.items() if a != axis}
                colls.append(Collective("ReduceScatter", (axis,), tensor, _local(dst_dims, rest, st) * width))
    return colls
