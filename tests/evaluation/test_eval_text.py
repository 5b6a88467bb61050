"""`mnemos eval text`: generated long-context items, every arm, accuracy by hop count and by length."""

from __future__ import annotations

import json
import re

from agent.cli import main
from tests.controller.conftest import HashEncoder
from tests.fakes import ScriptedGenerator
from tools.tasks import longctx


def test_generated_items_hide_their_facts_and_cycle_through_buckets():
    items = longctx.generate(24, seed=3)
    assert [(p.meta["hops"], p.meta["length"]) for p in items[:12]] == [
        (h, n) for n in longctx.LENGTHS for h in longctx.HOPS]
    assert items == longctx.generate(24, seed=3)
    for p in items:
        words = len(p.context.split())
        assert 0.8 * p.meta["length"] < words * longctx.TOKENS_PER_WORD < 1.3 * p.meta["length"]
        if p.meta["answer_type"] != "number":
            assert str(p.gold) in p.context
        elif p.meta["hops"] < 3:
            assert re.search(rf"keeps {p.gold} ", p.context)
        # three-hop counts are stated nowhere (the next test)


def test_three_hop_counts_are_only_reachable_through_the_relative_fact():
    item = next(p for p in longctx.generate(60, seed=1) if p.meta["hops"] == 3 and p.meta["answer_type"] == "number")
    town = re.search(r"born in (.+?) keep", item.prompt).group(1)
    person = re.search(rf"([A-Z]\w+ [A-Z]\w+) was born in {town}\.", item.context).group(1)
    rel = re.search(rf"{person} keeps (\d+) more [a-z ]+ than ([A-Z]\w+ [A-Z]\w+)\.", item.context)
    base = re.search(rf"{rel.group(2)} keeps (\d+) ", item.context)
    assert int(rel.group(1)) + int(base.group(1)) == int(item.gold)
    assert not re.search(rf"{person} keeps {item.gold} ", item.context)


def test_eval_text_reports_accuracy_by_hops_and_length(tmp_path, monkeypatch):
    import agent.engine
    import retrieval.embedder

    items = {p.prompt: p for p in longctx.generate(8, 0, (300,), (1, 2))}

    def reply(prompt, params):
        for question, p in items.items():
            if question in prompt:
                if not params.stop:  # plain: right on one-hop items only
                    return f"\\boxed{{{p.gold if p.meta['hops'] == 1 else 'nobody'}}}"
                return f"<answer>{p.gold}</answer>"
        return "<answer>?</answer>"

    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(lambda cls, s, **kw: ScriptedGenerator(reply)))
    monkeypatch.setattr(retrieval.embedder, "Embedder", lambda *a, **kw: HashEncoder())
    pub = tmp_path / "pub"
    args = ["--home", str(tmp_path / "home"), "eval", "text", "--generate", "8", "--lengths", "300", "--hops", "1,2",
            "--dev-size", "4", "--arms", "plain,off", "--no-progress", "--resamples", "200", "--publish", "r",
            "--publish-dir", str(pub)]
    assert main(args) == 0
    report = json.loads((pub / "r.json").read_text())
    assert report["arms"]["off"]["accuracy"] == 1.0
    hops = report["groups"]["hops"]
    assert hops["1"]["plain"] == 1.0 and hops["2"]["plain"] == 0.0 and hops["2"]["off"] == 1.0
    assert hops["1"]["n"] + hops["2"]["n"] == 4 and set(report["groups"]["length"]) == {"300"}


def test_plain_and_controller_read_the_same_document_question_and_answer_form():
    """Recall is the only difference between the arms: same layout, same <answer> form, read back by both."""
    from agent.controller.prompts import user_prompt
    from tools.domains import get_domain

    item = longctx.generate(1, 0, (300,), (1,))[0]
    text = get_domain("text")
    assert text.plain_prompt(item) == user_prompt(item)
    assert text.plain_prompt(item).startswith(f"Document:\n{item.context}\n\nQuestion:\n{item.prompt}")
    said = "The first fact gives it. <answer>Mira Okafor</answer>"
    assert text.plain_answer(said, item) == text.final_answer(said) == "Mira Okafor"


def test_a_token_budget_sizes_the_dev_set_with_more_short_items_and_needles_as_their_own_group():
    import argparse

    from tools.domains import get_domain

    args = argparse.Namespace(train=None, dev=None, lengths="1000,2000,4000,8000", hops="1,2,3", generate=None,
                              dev_size=None, split_seed=0, small=False, dev_tokens=60_000)
    split, label = get_domain("text").eval_split(args)
    lengths = [p.meta["length"] for p in split.dev if p.meta["source"] == "longctx"]
    assert sum(lengths) <= 54_000 and lengths.count(1000) > lengths.count(8000) >= 1
    needles = [p for p in split.dev if p.meta["source"] == "needle_haystack"]
    assert needles and all(p.gold in p.context and p.prompt.endswith("Answer with the name only.") for p in needles)
    assert not {p.id for p in split.train} & {p.id for p in split.dev}
    assert label == "longctx-60k" and split.record.seed == 0


def test_arms_run_group_by_group_so_each_document_is_computed_once(tmp_path, monkeypatch):
    """Every arm finishes a group of documents (sized to the KV cache) before the next group starts: the later
    arms of an item then find its document in the prefix cache."""
    import agent.engine
    import retrieval.embedder

    items = longctx.generate(12, 0, (300,), (1,))
    order: list[tuple[str, str]] = []

    def reply(prompt, params):
        p = next(p for p in items if p.prompt in prompt)
        order.append(("off" if params.stop else "plain", p.id))
        return f"<answer>{p.gold}</answer>"

    class Sized(ScriptedGenerator):
        kv_capacity_tokens = 2000  # 40% of it holds two 300-word documents at a time

        def count_tokens(self, text):
            return len(text.split())

    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(lambda cls, s, **kw: Sized(reply)))
    monkeypatch.setattr(retrieval.embedder, "Embedder", lambda *a, **kw: HashEncoder())
    args = ["--home", str(tmp_path / "home"), "eval", "text", "--generate", "12", "--lengths", "300", "--hops", "1",
            "--dev-size", "6", "--arms", "plain,off", "--no-progress", "--resamples", "200"]
    assert main(args) == 0
    runs: list[tuple[str, set[str]]] = []  # consecutive calls of one arm, with the items they were for
    for arm, pid in order:
        if runs and runs[-1][0] == arm:
            runs[-1][1].add(pid)
        else:
            runs.append((arm, {pid}))
    assert [arm for arm, _ in runs] == ["plain", "off"] * (len(runs) // 2) and len(runs) >= 4
    for (_, plain_ids), (_, off_ids) in zip(runs[::2], runs[1::2]):
        assert plain_ids == off_ids and len(plain_ids) < 6
