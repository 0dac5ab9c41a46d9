"""ZeRO-3 (PyTorch FSDP, JAX's fsdp axis) shards every parameter across the fsdp ranks and gathers each
once per forward pass (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
Parameter Models", section 5.3: each rank holds 1/N_d of the parameters). symroof shards a weight on its
model dimension D; MLA's latent-only weights (DeepSeek's q_b over the query latent Rq, kv_b over the key/value
latent Rkv, and DSA's indexer query over Rq) have no D and were held whole on every chip: 3.27e9 of
DeepSeek-V3's 671e9 parameters, 1.31x the even share at fsdp = 64. They are now split on their latent.

The independent number is the model's total parameter count, which tests/validate/test_hf_params.py checks
against transformers (671,026,404,352 for DeepSeek-V3, as its model card says).
"""

from __future__ import annotations

import pytest

from symroof import load_model
from symroof.core.graph import Structure, build
from symroof.core.symbols import B, T, b_param
from symroof.io.bind import count, model_values
from symroof.parallel.collectives import Axis
from symroof.parallel.roofline import _repeat, memory_per_chip
from symroof.parallel.sharding import shard


@pytest.mark.parametrize("ranks", [8, 64])
def test_fsdp_holds_an_even_share_of_an_mla_model_and_gathers_all_of_it_once_a_forward(ranks):
    card = load_model("deepseek-v3")
    total = sum(count(card, 1, 4096).params_by_group.values())
    assert total == 671_026_404_352
    sg = shard(build(Structure.of(card)), {"fsdp": Axis("fsdp", ranks, "ici")})
    values = {**model_values(card), b_param: 1, B: ranks, T: 4096}
    assert memory_per_chip(sg)["params"].xreplace(values) * ranks == total       # exact: integers
    gathered = sum((_repeat(d, sg.graph["mesh"]) * c.volume).xreplace(values)
                   for _, d in sg.nodes(data=True) if d["phase"] == "forward"
                   for c in d.get("collectives", ()) if c.axes == ("fsdp",) and c.kind == "AllGather"
                   and not c.on_critical_path)
    assert gathered == total
