"""The default number of problems in flight comes from the KV budget, capped by the engine's max_num_seqs."""

from __future__ import annotations

import json
from pathlib import Path

from agent.batch.concurrency import planned_concurrency, tokens_per_problem
from agent.llm import GeneratorDefaults


def _model_dir(tmp_path: Path) -> Path:
    # 10 layers x 2 KV heads x 64 dims x 2 bytes x (K and V) = 5,120 B per token
    cfg = {"num_hidden_layers": 10, "num_attention_heads": 8, "num_key_value_heads": 2, "hidden_size": 512,
           "torch_dtype": "bfloat16", "max_position_embeddings": 8192}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def _budgets(settings, **kw):
    return settings.model_copy(update={"budgets": settings.budgets.model_copy(update=kw)})


class _Llm(GeneratorDefaults):
    def __init__(self, model_dir: Path | None, max_num_seqs: int, kv_cache_gib: float = 0.01,
                 kv_capacity_tokens: int | None = None):
        self.model_dir, self.max_num_seqs, self.kv_cache_gib = model_dir, max_num_seqs, kv_cache_gib
        self.kv_capacity_tokens = kv_capacity_tokens


def test_kv_space_divided_by_trace_length(settings, tmp_path):
    settings = _budgets(settings, tokens=768, segment_tokens=256)
    assert tokens_per_problem(settings) == 1024
    plan = planned_concurrency(settings, _Llm(_model_dir(tmp_path), max_num_seqs=64))
    # 0.01 GiB = 10,737,418 B / 5,120 B per token = 2,097 tokens -> 2 traces of 1,024
    assert (plan.kv_tokens, plan.concurrency) == (2097, 2)
    assert "2,097 tokens" in plan.describe()


def test_capped_by_max_num_seqs_and_never_zero(settings, tmp_path):
    big = planned_concurrency(settings, _Llm(_model_dir(tmp_path), max_num_seqs=5, kv_cache_gib=4))
    assert big.concurrency == 5
    tiny = planned_concurrency(settings, _Llm(_model_dir(tmp_path), max_num_seqs=5, kv_cache_gib=0.0001))
    assert tiny.concurrency == 1


def test_engine_reported_capacity_wins_and_kv_budget_shortens_traces(settings, tmp_path):
    settings = _budgets(settings, segment_tokens=100).model_copy(update={"kv_budget": 500})
    assert tokens_per_problem(settings) == 600
    plan = planned_concurrency(settings, _Llm(_model_dir(tmp_path), max_num_seqs=64, kv_capacity_tokens=6000))
    assert (plan.kv_tokens, plan.concurrency) == (6000, 10)


def test_fp8_policy_doubles_the_room(settings, tmp_path):
    settings = _budgets(settings, tokens=768, segment_tokens=256)
    full = planned_concurrency(settings, _Llm(_model_dir(tmp_path), max_num_seqs=64, kv_cache_gib=0.02))
    fp8 = planned_concurrency(settings.model_copy(update={"kv_policy": "fp8"}),
                              _Llm(_model_dir(tmp_path), max_num_seqs=64, kv_cache_gib=0.02))
    assert fp8.kv_tokens == 2 * full.kv_tokens and fp8.concurrency == 2 * full.concurrency


def test_a_model_without_kv_geometry_uses_the_engine_cap(settings):
    plan = planned_concurrency(settings, GeneratorDefaults())
    assert plan.kv_tokens is None and plan.concurrency == settings.max_num_seqs


def test_model_sized_defaults_come_from_the_engine(settings, tmp_path):
    """With context and KV space left to the model (None in settings), the engine's values are used."""
    settings = _budgets(settings.model_copy(update={"max_model_len": None, "kv_cache_gib": None}),
                        tokens=4000, segment_tokens=256)
    llm = _Llm(_model_dir(tmp_path), max_num_seqs=64, kv_cache_gib=0.01)
    llm.max_model_len = 1024
    plan = planned_concurrency(settings, llm)
    assert (plan.tokens_per_problem, plan.kv_tokens, plan.concurrency) == (1024, 2097, 2)
    assert planned_concurrency(settings, GeneratorDefaults()).tokens_per_problem == 4256
