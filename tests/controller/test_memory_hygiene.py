"""What memory may hold and show: concepts without their source's specifics, at most 3 entries / 300 tokens a prompt."""

from __future__ import annotations

from types import SimpleNamespace

from agent.controller.learning import restates_source, specifics
from agent.controller.nodes import MEMORY_ENTRIES, MEMORY_TOKENS, _within_memory_budget
from memory.schemas import Concept, SearchHit

SOURCE = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many?"


def test_specifics_are_numbers_and_names_not_sentence_words():
    assert specifics(SOURCE) == {"48", "Natalia", "April", "May"}


def test_a_concept_restating_two_specifics_is_rejected_one_is_allowed():
    assert restates_source(Concept(name="half again", description="Natalia sold 48, then half as many"), SOURCE) == [
        "48", "Natalia"]
    assert restates_source(Concept(name="half again", description="a second amount is half of 48"), SOURCE) == []
    assert restates_source(Concept(name="half again", description="the second amount is half the first; add both",
                                   cues=["How many in all"]), SOURCE) == []


def test_at_most_three_entries_and_300_tokens_are_shown():
    ctx = SimpleNamespace(llm=SimpleNamespace(count_tokens=lambda text: len(text.split())))
    short = [SearchHit(id=i, score=1.0, item=Concept(name=f"c{i}", description="tiny")) for i in range(6)]
    assert [h.id for h in _within_memory_budget(ctx, short)] == list(range(MEMORY_ENTRIES))
    long = [SearchHit(id=i, score=1.0, item=Concept(name=f"c{i}", description="word " * (MEMORY_TOKENS // 2)))
            for i in range(3)]
    assert [h.id for h in _within_memory_budget(ctx, long)] == [0]
