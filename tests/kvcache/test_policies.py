"""Budgeted caches on the real embedded model through ``model.generate``."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import DynamicCache, StoppingCriteria, StoppingCriteriaList

from kvcache.hf.base import BudgetCache, BudgetStop
from kvcache.errors import KVBudgetError, KVBudgetExceeded
from kvcache.hf.policies import make_cache

NEW = 24


class Recorder(StoppingCriteria):
    """Records, after every decoding step, the largest number of tokens any layer stores."""

    def __init__(self, cache: BudgetCache) -> None:
        self.cache, self.stored = cache, []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        self.stored.append(max(layer.stored_tokens() for layer in self.cache.layers))
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def greedy(model: Any, ids: torch.Tensor, cache: Any = None, criteria: list | None = None, new: int = NEW) -> torch.Tensor:
    out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False, past_key_values=cache,
                         stopping_criteria=StoppingCriteriaList(criteria or []), pad_token_id=0)
    return out[0, ids.shape[1]:]


def test_full_policy_reproduces_plain_generate(hf_model: Any, prompt_ids: torch.Tensor) -> None:
    plain = greedy(hf_model, prompt_ids)
    with make_cache("full", hf_model) as cache:
        assert torch.equal(greedy(hf_model, prompt_ids, cache), plain)
    assert cache.get_seq_length() == prompt_ids.shape[1] + NEW - 1
    dyn = DynamicCache(config=hf_model.config)
    greedy(hf_model, prompt_ids, dyn)
    assert cache.peak_bytes == sum(layer.keys.nbytes + layer.values.nbytes for layer in dyn.layers)


@pytest.mark.parametrize(
    ("policy", "params"),
    [("sink_window", {}), ("snapkv", {"window": 8}), ("rkv", {"window": 8, "chunk": 4}), ("snapkv", {"window": 4, "chunk": 6})],
)
def test_evicting_policies_never_exceed_budget(hf_model: Any, prompt_ids: torch.Tensor, policy: str, params: dict) -> None:
    budget = 16
    assert prompt_ids.shape[1] > budget
    with make_cache(policy, hf_model, budget, **params) as cache:
        rec = Recorder(cache)
        tokens = greedy(hf_model, prompt_ids, cache, [rec])
    assert len(tokens) == NEW
    assert max(rec.stored) <= budget and len(rec.stored) == NEW
    assert cache.peak_tokens <= budget
    for layer in cache.layers:
        pos = layer.positions
        assert pos.shape[-1] <= budget
        assert (pos[..., 1:] > pos[..., :-1]).all()  # kept in position order
        assert int(pos.max()) == layer.seen - 1  # the newest token is always kept
    assert cache.get_seq_length() == prompt_ids.shape[1] + NEW - 1  # positions keep counting past evictions


def test_sink_window_keeps_exactly_sinks_and_recent(hf_model: Any, prompt_ids: torch.Tensor) -> None:
    budget, sinks = 12, 4
    with make_cache("sink_window", hf_model, budget, sinks=sinks) as cache:
        greedy(hf_model, prompt_ids, cache)
    seen = prompt_ids.shape[1] + NEW - 1
    expected = list(range(sinks)) + list(range(seen - (budget - sinks), seen))
    for layer in cache.layers:
        assert layer.positions.shape == (1, layer.keys.shape[1], budget)
        assert (layer.positions == torch.tensor(expected)).all()


def test_eviction_keeps_rope_positions_increasing(hf_model: Any, prompt_ids: torch.Tensor) -> None:
    """A big-enough budget never evicts, so a sink+window cache must then match the full cache token for token,
    and a forward without explicit positions must use seen-token positions, not the stored count."""
    plain = greedy(hf_model, prompt_ids)
    with make_cache("sink_window", hf_model, prompt_ids.shape[1] + NEW) as roomy:
        assert torch.equal(greedy(hf_model, prompt_ids, roomy), plain)
    seen_positions: list[int] = []
    hook = hf_model.model.rotary_emb.register_forward_hook(
        lambda m, a, kw, o: seen_positions.append(int(kw["position_ids"].max())), with_kwargs=True
    )
    try:
        with torch.no_grad(), make_cache("sink_window", hf_model, 8) as tight:
            hf_model(prompt_ids, past_key_values=tight)
            hf_model(prompt_ids[:, :1], past_key_values=tight)
    finally:
        hook.remove()
    assert seen_positions[-1] == prompt_ids.shape[1]
    assert tight.stored_tokens() == 8


@pytest.mark.parametrize("bits", [8, 4])
@torch.no_grad()
def test_kivi_logits_stay_close_to_full(hf_model: Any, prompt_ids: torch.Tensor, bits: int) -> None:
    nxt = torch.tensor([[hf_model.config.bos_token_id or 1]])
    full = DynamicCache(config=hf_model.config)
    hf_model(prompt_ids, past_key_values=full)
    ref = hf_model(nxt, past_key_values=full).logits[0, -1]
    with make_cache(f"kivi{bits}", hf_model, group_size=8, residual=8) as cache:
        hf_model(prompt_ids, past_key_values=cache)
        got = hf_model(nxt, past_key_values=cache).logits[0, -1]
    assert cache.layers[0].qkeys, "the prompt should have been quantised"
    assert cache.nbytes() < sum(layer.keys.nbytes + layer.values.nbytes for layer in full.layers)
    rel = ((got - ref).norm() / ref.norm()).item()
    assert 0 < rel < (0.02 if bits == 8 else 0.2)


def test_non_evicting_caches_stop_at_the_budget_and_say_why(hf_model: Any, prompt_ids: torch.Tensor) -> None:
    budget = prompt_ids.shape[1] + 10
    with make_cache("full", hf_model, budget) as cache:
        out = hf_model.generate(prompt_ids, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False,
                                past_key_values=cache, stopping_criteria=StoppingCriteriaList([BudgetStop(cache)]))
    assert cache.get_seq_length() == budget and out.shape[1] == budget + 1
    assert cache.stop_reason and "kv budget" in cache.stop_reason
    with make_cache("kivi4", hf_model, budget, group_size=8, residual=8) as quant:
        hf_model.generate(prompt_ids, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False,
                          past_key_values=quant, stopping_criteria=StoppingCriteriaList([BudgetStop(quant)]))
    assert quant.get_seq_length() > budget  # the same memory holds more quantised tokens
    assert quant.peak_bytes <= quant.budget_bytes()


def test_prompt_larger_than_a_non_evicting_budget_raises(hf_model: Any, prompt_ids: torch.Tensor) -> None:
    with torch.no_grad(), make_cache("full", hf_model, 5) as cache, pytest.raises(KVBudgetExceeded, match="KV budget exhausted"):
        hf_model(prompt_ids, past_key_values=cache)


def test_bad_budgets_give_documented_errors(hf_model: Any) -> None:
    with pytest.raises(KVBudgetError, match="smaller than the tokens it must always keep"):
        make_cache("sink_window", hf_model, 3, sinks=4)
    with pytest.raises(KVBudgetError, match="smaller than the tokens it must always keep"):
        make_cache("snapkv", hf_model, 20, window=32)
    with pytest.raises(KVBudgetError, match="larger than the model's context"):
        make_cache("sink_window", hf_model, hf_model.config.max_position_embeddings + 1)
    with pytest.raises(KVBudgetError, match="must be an integer"):
        make_cache("rkv", hf_model, None)
    with pytest.raises(KVBudgetError, match="lower chunk"):
        make_cache("snapkv", hf_model, 40, window=32, chunk=10)
    with pytest.raises(KVBudgetError, match="unknown KV policy"):
        make_cache("lru", hf_model, 64)
    with pytest.raises(KVBudgetError, match="multiple of group_size"):
        make_cache("kivi4", hf_model, group_size=32, residual=48)


def test_score_policy_without_queries_explains(hf_model: Any, prompt_ids: torch.Tensor) -> None:
    cache = make_cache("snapkv", hf_model, 16, window=4)
    cache.detach()
    assert prompt_ids.shape[1] > 16
    with torch.no_grad(), pytest.raises(RuntimeError, match="attach"):
        hf_model(prompt_ids, past_key_values=cache)
