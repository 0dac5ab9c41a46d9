"""DeepSeek-V3.2 (DeepSeek Sparse Attention): the published config, its cache and served decode step by
hand, and the refusals. The counts against transformers and FlopCounterMode are in
tests/validate/test_sparse_attention.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symroof.cli import main
from symroof.core import derive
from symroof.core.graph import Structure
from symroof.core.symbols import B, S, b_kv
from symroof.errors import CardError
from symroof.io.bind import count, model_values
from symroof.io.catalog import load_model
from symroof.io.hf import model_from_hf_config
from symroof.solve import inference as inf

DATA = Path(__file__).resolve().parent / "data" / "hf"
V32 = DATA / "DeepSeek-V3.2-Exp" / "config.json"


def test_published_config_is_deepseek_v3_plus_the_indexer():
    """DeepSeek-V3's 671,026,404,352 parameters as transformers builds them (tests/test_hf.py) plus, per layer,
    the indexer's wq_b (q_lora_rank x index_n_heads x index_head_dim), wk (hidden x index_head_dim), k_norm
    (a LayerNorm: weight and bias of index_head_dim) and weights_proj (hidden x index_n_heads), from the
    published sizes (1536, 64, 128, 7168; 61 layers). tests/validate builds transformers' class on the meta
    device and finds the same."""
    card = load_model(str(V32))
    per_layer = 1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64
    assert count(card, 1, 4096).params_total == 671_026_404_352 + 61 * per_layer == 671_877_929_216
    assert {t.attention for _, t in card.block_types} == {"indexed"}
    assert card.layers == (("dense", 3), ("moe", 58))
    assert (card.index_topk, card.index_heads, card.index_head_dim) == (2048, 64, 128)
    notes = "\n".join(card.left_out)
    assert "multi-token-prediction" in notes and "without gradients" in notes and "(fp8)" in notes


def _decode(card, context):
    values = {**model_values(card), B: 1, b_kv: 1, S: context}
    g = inf.graph(Structure.of(card), "decode")
    return g, values


@pytest.mark.parametrize("context", [1, 2047, 2048, 2049, 131072])
def test_served_decode_reads_the_selected_latents_and_every_index_key(context):
    """Per layer, a served step (kv_b absorbed) holds (R_kv + H_r + H_idx) = 512 + 64 + 128 bytes a token (fp8:
    b_kv = 1), reads the min(2048, S) selected latents and RoPE keys and all S indexer keys, and its core
    scores min(2048, S) latents and RoPE keys and weights as many latents for each of the 128 heads, while the
    indexer scores all S keys with 64 heads of 128 and sums them over its heads: 2 FLOPs a term."""
    card = load_model(str(V32))
    g, values = _decode(card, context)
    held = derive.kv_cache_bytes(g).xreplace(values)
    read = derive.kv_cache_bytes(g, read=True).xreplace(values)
    chosen = min(2048, context)
    assert held == 61 * context * (512 + 64 + 128)
    assert read == 61 * (chosen * (512 + 64) + context * 128)
    core = derive.total(g, "flops", "forward", where=lambda n, d: n.split("/")[-1] in
                        ("scores_latent", "scores_rope", "av")).xreplace(values)
    assert core == 61 * 2 * 128 * chosen * (512 + 64 + 512)
    indexer = derive.total(g, "flops", "forward", where=lambda n, d: n.split("/")[-1] in
                           ("idx_scores", "idx_sum")).xreplace(values)
    assert indexer == 61 * 2 * 64 * context * (128 + 1)


def test_the_sparse_core_is_exact_in_t_on_both_sides_of_k():
    """Causal: query t attends to min(t, k) keys, so the core is T(T+1)/2 pairs up to T = k and grows by k a
    token after (DSA's O(L k)), while the indexer's scores keep growing with every earlier key (O(L^2))."""
    card = load_model(str(V32))
    def pairs(seq, op):
        c = count(card, 1, seq)
        return sum(c.flops_by_module[f"{blk}/attn/{op}"]["forward"] for blk in ("dense", "moe")) // (61 * 2 * 128 * 192)
    assert [pairs(t, "scores") for t in (1, 2, 2048)] == [1, 3, 2048 * 2049 // 2]
    assert pairs(2049, "scores") - pairs(2048, "scores") == 2048 == pairs(4000, "scores") - pairs(3999, "scores")
    idx = lambda seq: count(card, 1, seq).flops_by_module["moe/attn/idx_scores"]["forward"]   # noqa: E731
    assert idx(4000) - idx(3999) == 58 * 2 * 64 * 128 * 4000


def test_commands_run_on_the_published_config(capsys):
    assert main(["count", str(V32), "--seq", "8192"]) == 0
    assert "lightning indexer selects" in capsys.readouterr().out
    assert main(["serve", str(V32), "--chip", "gb200-nvl72", "--chips", "16", "--batch", "16", "--weights-dtype",
                 "fp8", "--mesh", "tensor=16", "--context", "131072", "--prompt", "32768", "--generate", "512"]) == 0
    assert "KV 42.94 kB per token" in capsys.readouterr().out      # 61 x (512 + 64 + 128) bytes, fp8
    assert main(["plan", str(V32), "--chip", "h100-sxm", "--chips", "2048", "--batch-tokens", "16777216",
                 "--seq", "4096"]) == 0


def _raw(**change):
    raw = json.loads(V32.read_text())
    raw.update(change)
    return {k: v for k, v in raw.items() if v != "absent"}


@pytest.mark.parametrize("change, words", [
    ({"index_topk": "absent"}, "missing key 'index_topk'"),
    ({"index_n_heads": None}, "missing key 'index_n_heads'"),
    ({"index_head_dim": 0}, "key 'index_head_dim' must be an integer >= 1"),
    ({"index_head_dim": 32}, "'index_head_dim' (32) must be at least 'rope_head_dim' (64)"),
    ({"q_lora_rank": None}, "key 'q_lora_rank' is null"),
    ({"layer_types": ["full_attention"] * 61}, "key 'layer_types' must be null or list 61 entries"),
    ({"mlp_layer_types": ["dense"]}, "key 'mlp_layer_types' must list 61 entries"),
    ({"indexer_rope_interleave": True}, "unknown key 'indexer_rope_interleave'"),
])
def test_what_the_class_does_not_build_is_refused(change, words):
    with pytest.raises(CardError) as err:
        model_from_hf_config(_raw(**change), "v32/config.json")
    assert str(err.value).startswith("v32/config.json: ") and words in str(err.value), str(err.value)


def test_num_local_experts_is_read_as_n_routed_experts():
    """DeepseekV32Config's attribute_map: num_local_experts is n_routed_experts; two different numbers are refused."""
    card = model_from_hf_config(_raw(n_routed_experts="absent", num_local_experts=256), "v32/config.json")
    assert card.n_experts == 256
    with pytest.raises(CardError, match="disagree"):
        model_from_hf_config(_raw(num_local_experts=128), "v32/config.json")


def test_mlp_layer_types_decide_the_mlps_and_layer_types_may_say_indexed():
    card = model_from_hf_config(_raw(mlp_layer_types=["sparse"] * 60 + ["dense"], first_k_dense_replace="absent",
                                     layer_types=["indexed_attention"] * 61), "v32/config.json")
    assert card.layers == (("moe", 60), ("dense", 1))


@pytest.mark.parametrize("change, words", [
    ({"index_topk": 0}, "'index_topk' is needed"),
    ({"attention": "mha", "q_lora_rank": 0, "kv_lora_rank": 0, "rope_head_dim": 0, "v_head_dim": 0},
     "attention: indexed needs attention: mla"),
    ({"q_lora_rank": 0}, "attention: indexed needs attention: mla with a q_lora_rank"),
])
def test_cards_check_the_indexed_kind(change, words):
    from dataclasses import replace

    from symroof.io.layers import check_layers

    card = replace(load_model(str(V32)), **change)
    with pytest.raises(CardError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_layers(card, "c.yaml")      # what io/cards.py runs on every card


def test_index_keys_without_an_indexed_block_are_refused():
    from dataclasses import replace

    from symroof.io.layers import check_layers

    card = replace(load_model(str(DATA / "DeepSeek-V3" / "config.json")), index_topk=2048)
    with pytest.raises(CardError, match="'index_topk' is set but no block type has attention: indexed"):
        check_layers(card, "c.yaml")
