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


def test_learning_counts_offers_uses_and_the_arms_rate_and_demotes_a_concept_that_does_not_help(memory):
    from agent.controller.learning import _record_outcomes
    from agent.controller.state import Trace
    from memory.utility import JUDGE_AFTER
    from tools.problem import Problem

    helpful, useless = memory.concepts.add_many([Concept(name="unit rate first", domain="math"),
                                                 Concept(name="add everything", domain="math")])
    for n in range(JUDGE_AFTER):
        problem = Problem(id=f"p{n}", domain="math", prompt="q")
        used = [helpful.id] if n < 3 else [useless.id]
        trace = Trace(problem_id=problem.id, concepts_offered=[helpful.id, useless.id], concepts_used=used)
        _record_outcomes(memory, problem, trace, success=n < 3)
    for n in range(JUDGE_AFTER, 2 * JUDGE_AFTER):
        _record_outcomes(memory, Problem(id=f"p{n}", domain="math", prompt="q"),
                         Trace(problem_id=f"p{n}", concepts_offered=[useless.id], concepts_used=[useless.id]), success=n == JUDGE_AFTER)
    assert memory.concepts.solve_rate("math") == 4 / (2 * JUDGE_AFTER)
    helpful, useless = memory.concepts.get(helpful.id), memory.concepts.get(useless.id)
    assert (helpful.offered, helpful.successes, helpful.failures, helpful.status) == (JUDGE_AFTER, 3, 0, "active")
    assert (useless.offered, useless.successes, useless.failures) == (2 * JUDGE_AFTER, 1, 6)
    assert useless.status == "removed"  # demoted at its 5th use (1/5 < 4/8), removed at the next
