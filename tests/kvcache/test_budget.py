from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvcache.budget import (
    bytes_per_token,
    check_token_budget,
    describe,
    engine_bytes_per_token,
    kv_spec,
    plan,
    quantized_bytes_per_token,
)
from kvcache.errors import KVBudgetError

LLAMA = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_size": 576,
         "torch_dtype": "bfloat16", "max_position_embeddings": 8192}


def test_spec_from_checkpoint_dir(embedded_model_dir: Path) -> None:
    spec = kv_spec(embedded_model_dir)
    cfg = json.loads((embedded_model_dir / "config.json").read_text())
    assert spec.num_layers == cfg["num_hidden_layers"]
    assert spec.num_kv_heads == cfg["num_key_value_heads"]
    assert spec.head_dim == cfg["hidden_size"] // cfg["num_attention_heads"]
    assert spec.max_context == cfg["max_position_embeddings"]


def test_spec_from_transformers_config_and_dtype_override() -> None:
    from transformers import LlamaConfig

    spec = kv_spec(LlamaConfig(**{k: v for k, v in LLAMA.items() if k != "torch_dtype"}), dtype="float16")
    assert (spec.num_layers, spec.num_kv_heads, spec.head_dim, spec.dtype) == (30, 3, 64, "float16")


def test_bytes_per_token_counts_keys_and_values() -> None:
    spec = kv_spec(LLAMA)
    assert bytes_per_token(spec) == 2 * 30 * 3 * 64 * 2
    assert bytes_per_token(spec, "float32") == 2 * bytes_per_token(spec)
    # what vLLM allocates per token: 2 (K and V) x 30 layers x 3 kv heads x 64 dims x bytes per element
    assert engine_bytes_per_token(spec, "full") == 23040
    assert engine_bytes_per_token(spec, "fp8") == 11520  # one byte per element
    assert engine_bytes_per_token(spec, "fold") == 23040  # folding changes how many tokens are live, not their size
    assert engine_bytes_per_token(spec, "triattention") == 23040


def test_quantised_bytes_include_scale_overhead() -> None:
    spec = kv_spec(LLAMA)
    codes_only = 30 * 3 * 2 * 64 * 4 / 8
    q4 = quantized_bytes_per_token(spec, 4, group_size=32)
    assert q4 > codes_only
    assert q4 == pytest.approx(codes_only + 30 * 3 * (2 * 64 * 2 / 32 + 2 * 2 * 2))
    assert quantized_bytes_per_token(spec, 8) > q4
    with pytest.raises(KVBudgetError, match="2, 4 or 8 bits"):
        quantized_bytes_per_token(spec, 3)


def test_plan_orders_horizons() -> None:
    spec = kv_spec(LLAMA)
    result = plan(spec, 16 * 1024**2, token_budget=512)
    full, fp8, k8, k4, ev = (result.row(p) for p in ("full", "fp8", "kivi8", "kivi4", "evict"))
    assert full.live_tokens == 16 * 1024**2 // bytes_per_token(spec)
    assert full.live_tokens < k8.live_tokens < k4.live_tokens
    assert fp8.live_tokens == 2 * full.live_tokens
    assert ev.live_tokens == 512 and ev.horizon_tokens == 8192
    text = describe(result)
    for name in ("full", "fp8", "kivi8", "kivi4", "evict", "30 layers"):
        assert name in text


def test_impossible_budgets_give_documented_errors() -> None:
    spec = kv_spec(LLAMA)
    with pytest.raises(KVBudgetError, match="smaller than the tokens it must always keep"):
        plan(spec, 16 * 1024**2, token_budget=20, sinks=4, window=32)
    with pytest.raises(KVBudgetError, match="larger than the model's context"):
        plan(spec, 2 * 1024**3, token_budget=10_000)
    with pytest.raises(KVBudgetError, match="not even one token"):
        plan(spec, 100)
    with pytest.raises(KVBudgetError, match="more than"):
        plan(spec, 1024**2, token_budget=4096)
    with pytest.raises(KVBudgetError, match="positive"):
        check_token_budget(0)
    with pytest.raises(KVBudgetError, match="integer"):
        check_token_budget(None)  # type: ignore[arg-type]
    with pytest.raises(KVBudgetError, match="unknown KV dtype"):
        kv_spec(LLAMA, dtype="float7")
    with pytest.raises(KVBudgetError, match="no model config"):
        kv_spec(Path("/nonexistent/model"))
