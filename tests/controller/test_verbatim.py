"""The verbatim guarantee: evidence is always an exact substring of its source, whoever produced it."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.controller.copying import accept
from agent.controller.evidence import EvidenceIndex, split_windows
from agent.controller.toolbox import tag_table
from agent.engine.verbatim_span import SEPARATOR, VerbatimSpanTracker, copy_spec
from tests.fakes import ScriptedGenerator
from tools.problem import Problem

words = st.sampled_from(["the", "blue", "red", "vault", "maps", "holds", "412", "97", "letters", "archive", "opened", "curator", "<evidence>", "</recall>", "émigré", "naïve", "3.5", "a", "b"])
sentences = st.lists(words, min_size=1, max_size=12).map(" ".join)
punct = st.sampled_from([". ", "! ", "? ", "\n", ".\n\n", " ", "... "])
documents = st.lists(st.tuples(sentences, punct), max_size=25).map(lambda xs: "".join(a + b for a, b in xs))


@given(doc=documents, query=sentences)
@settings(max_examples=150, deadline=None)
def test_search_spans_are_exact_substrings(doc: str, query: str) -> None:
    idx = EvidenceIndex({"context": doc}, skip=tag_table().any_tag)
    for rec in idx.search(query, k=4):
        assert doc[rec.start : rec.start + len(rec.text)] == rec.text
        assert "<evidence>" not in rec.text and "</evidence>" not in rec.text


@given(doc=documents)
@settings(max_examples=150, deadline=None)
def test_windows_cover_the_text_in_order(doc: str) -> None:
    ws = split_windows("context", doc, max_chars=40)
    assert all(doc[w.start : w.end] == w.text and len(w.text) <= 40 for w in ws)
    assert all(a.end <= b.start for a, b in itertools.pairwise(ws))


@given(doc=documents, junk=sentences, at=st.integers(0, 400), size=st.integers(1, 60))
@settings(max_examples=100, deadline=None)
def test_accept_admits_exactly_the_verbatim_text(doc: str, junk: str, at: int, size: int) -> None:
    idx = EvidenceIndex({"context": doc}, skip=tag_table().any_tag)
    span = doc[at : at + size]
    if span.strip():  # a real copy, followed by the block's closer and chatter, is accepted as exactly that span
        rec = accept(f"{span}</evidence> and more", "q", idx, "copy-token")
        assert rec is not None and (rec.text, rec.start) == (span, doc.find(span))
    rec = accept(junk, "q", idx, "copy-token")
    expected = next((c for c in (junk, junk.strip()) if c.strip() and c in doc), None)
    assert (rec.text if rec else None) == expected
    if rec is not None:
        assert (rec.source, rec.start) == ("context", doc.find(expected))


@given(doc=documents, queries=st.lists(sentences, min_size=1, max_size=4))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_evidence_block_in_a_run_is_verbatim(make_controller, doc: str, queries: list[str]) -> None:
    """End to end through the graph: parse the prompts the model saw and check every block."""
    script = [f"<recall>{q}</recall>" for q in queries] + ["<answer>x</answer>"]
    llm = ScriptedGenerator(script)
    problem = Problem(id="v", prompt="Which vault?", context=doc)
    res = make_controller(llm, budgets={"recalls": 8, "segments": 8}).solve(problem)
    sources = {"context": doc, "prompt": problem.prompt}
    for ev in res.trace.evidence:
        assert sources[ev.source][ev.start : ev.start + len(ev.text)] == ev.text
    transcript = llm.prompts[-1].split("<|assistant|>", 1)[1]
    for block in re.findall(r"<evidence>(.*?)</evidence>", transcript, flags=re.DOTALL):
        assert block in doc or block in problem.prompt


def _walk(tracker: VerbatimSpanTracker, choose: list[int]) -> list[int]:
    """Follow the tracker's allowed sets, picking by index; stop on an end token."""
    span: list[int] = []
    for c in choose:
        allowed = tracker.allowed(span)
        tok = allowed[c % len(allowed)]
        if tok in tracker.end_ids:
            break
        span.append(tok)
    return span


def _contains(seq: list[int], sub: list[int]) -> bool:
    return any(seq[i : i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


@given(srcs=st.lists(st.lists(st.integers(1, 12), min_size=1, max_size=40), min_size=1, max_size=3),
       choose=st.lists(st.integers(0, 1000), max_size=60), cap=st.integers(1, 20))
@settings(max_examples=300, deadline=None)
def test_token_tracker_only_admits_contiguous_source_spans(srcs, choose, cap) -> None:
    tracker = VerbatimSpanTracker(copy_spec(srcs, [0], cap)["source_ids"], [0], max_span=cap)
    span = _walk(tracker, choose)
    assert len(span) <= cap
    assert any(_contains(s, span) for s in srcs), "span crosses a source boundary or leaves the source"


def test_token_tracker_end_always_allowed_and_cap_enforced() -> None:
    t = VerbatimSpanTracker([5, 6, 7, 5, 6, 8], end_ids=[99], max_span=2)
    assert t.allowed([]) == [5, 6, 7, 8, 99]
    assert t.allowed([5]) == [6, 99]
    assert t.allowed([5, 6]) == [99]
    t2 = VerbatimSpanTracker([5, 6, 7, 5, 6, 8], end_ids=[99], max_span=10, banned_ids=[8])
    assert t2.allowed([5, 6]) == [7, 99]
    with pytest.raises(ValueError, match="end token"):
        VerbatimSpanTracker([1], end_ids=[])
    assert SEPARATOR not in VerbatimSpanTracker(copy_spec([[1], [2]], [0])["source_ids"], [0]).allowed([])


def test_vllm_logits_processor_masks_rows_that_ask_for_it() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    from vllm import SamplingParams
    from vllm.v1.sample.logits_processor import BatchUpdate

    from agent.engine.verbatim_logits import VerbatimCopyLogitsProcessor
    from agent.engine.verbatim_span import EXTRA_KEY

    proc = VerbatimCopyLogitsProcessor(None, torch.device("cpu"), False)
    copy = SamplingParams(max_tokens=8, extra_args={EXTRA_KEY: copy_spec([[3, 4, 5]], [0])})
    plain = SamplingParams(max_tokens=8)
    out0: list[int] = []
    out1: list[int] = [4]
    proc.update_state(BatchUpdate(batch_size=2, removed=[], added=[(0, plain, [1], out0), (1, copy, [1], out1)],
                                  moved=[]))
    logits = torch.zeros(2, 10)
    res = proc.apply(logits.clone())
    assert torch.isfinite(res[0]).all()
    assert torch.isfinite(res[1]).nonzero().flatten().tolist() == [0, 5]
    with pytest.raises(ValueError, match="source_ids"):
        VerbatimCopyLogitsProcessor.validate_params(SamplingParams(extra_args={EXTRA_KEY: {"end_ids": [0]}}))


def test_token_copier_spec_follows_the_problem() -> None:
    from agent.controller.copying import TokenCopier
    from agent.engine.verbatim_span import EXTRA_KEY

    tok = type("Tok", (), {"eos_token_id": 0, "encode": lambda self, t, add_special_tokens=False: [ord(c) for c in t]})()
    cp = TokenCopier(tok)
    a = cp.params("q", EvidenceIndex({"context": "ab"})).extra_args[EXTRA_KEY]["source_ids"]
    b = cp.params("q", EvidenceIndex({"context": "xy"})).extra_args[EXTRA_KEY]["source_ids"]
    assert a == [97, 98] and b == [120, 121]
