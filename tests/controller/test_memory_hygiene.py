"""What memory may hold and show: concepts without their source's specifics, at most 3 entries / 300 tokens a prompt."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from agent.controller.learning import (
    parse_concepts,
    restates_source,
    specifics,
    story_words,
)
from agent.controller.nodes import MEMORY_ENTRIES, MEMORY_TOKENS, _within_memory_budget
from agent.controller.prompts import CONCEPT_REGEX
from memory.schemas import Concept, SearchHit
from tools.problem import Problem

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


def test_an_episodes_counts_commit_together_or_not_at_all(memory):
    """A sub-question removed meanwhile fails the episode's update: no concept or rate count may stay behind."""
    from agent.controller.learning import _record_outcomes
    from agent.controller.state import Trace
    from memory.vector_store import MemoryItemNotFound

    concept = memory.concepts.add(Concept(name="unit rate first", domain="math"))
    trace = Trace(problem_id="p0", concepts_offered=[concept.id], concepts_used=[concept.id], subroutines_used=[4242])
    with pytest.raises(MemoryItemNotFound):
        _record_outcomes(memory, Problem(id="p0", domain="math", prompt="q"), trace, success=True)
    after = memory.concepts.get(concept.id)
    assert (after.offered, after.successes, after.failures, after.problems) == (0, 0, 0, [])
    assert memory.concepts.solve_rate("math") == 0.0
    trace.subroutines_used = []
    _record_outcomes(memory, Problem(id="p0", domain="math", prompt="q"), trace, success=True)
    after = memory.concepts.get(concept.id)
    assert (after.offered, after.successes, after.problems) == (1, 1, ["p0"])
    assert memory.concepts.solve_rate("math") == 1.0


#: Names the writer gave real GSM8K training problems (run gsm8k-dev2), each with its problem's story.
STORY_NAMES = [
    ("Gnome Counting", "There are 5 houses on a street, and each of the first four houses has 3 gnomes in the garden."),
    ("Flower Counting", "Mark has a garden with flowers. Ten of them are yellow, and there are 80% more of those in purple."),
    ("Evaporation Calculation", "If the water is 20% salt, how many ml of salt will Jack get when all the water evaporates?"),
    ("BeetleEatingModel", "Each bird eats 12 beetles per day, each snake eats 3 birds per day."),
    ("Babysitting Calculation", "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting."),
]


@pytest.mark.parametrize(("name", "story"), STORY_NAMES)
def test_a_name_taken_from_the_story_is_caught(name, story):
    assert story_words(name, story)


@pytest.mark.parametrize("name", ["Unit rate times quantity", "Percent of a total", "Remaining share after equal parts",
                                  "Calculate the cost of each item", "Chained rates per day"])
def test_a_name_for_the_method_passes_whatever_the_story(name):
    for _, story in STORY_NAMES:
        assert story_words(name, story) == []


def test_the_concept_format_ends_each_field_at_its_sentence():
    written = ("concept: Unit rate times quantity\nkind: routine\ndescription: Scales a per-unit amount up.\n"
               "cues: A price or rate per unit and a count.\nnotes: find the rate; multiply by the count.\n")
    assert re.fullmatch(CONCEPT_REGEX, written)
    run_on = written.replace("count.\n", "count. If you have any questions, feel free to ask!\n")
    assert re.fullmatch(CONCEPT_REGEX, run_on) is None
    assert re.fullmatch(CONCEPT_REGEX, written.replace("notes: find the rate", "notes: 1. find the rate")) is None
    [c] = parse_concepts(written, Problem(id="p", domain="math", prompt="q"))
    assert (c.name, c.description, c.cues, c.notes) == (
        "Unit rate times quantity", "Scales a per-unit amount up.", ["A price or rate per unit and a count"],
        ["find the rate", "multiply by the count"])


def test_a_sub_question_is_judged_by_its_story_not_its_grammar():
    from agent.controller.learning import restates_story
    from memory.schemas import Subroutine

    source = "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?"
    assert restates_story(Subroutine(question="How many hours did Weng babysat?", procedure="divide by 60"), source) == [
        "Weng", "babysat"]
    assert restates_story(Subroutine(question="How much did she earn in an hour?", procedure="divide the pay by the hours"),
                          source) == []


def test_a_procedure_ends_where_the_model_starts_a_new_numbered_question():
    """From gsm8k-dev3's store: the reasoning after a <subq> ran on into a question of its own."""
    from agent.controller.learning import trace_pairs
    from agent.controller.state import Segment, Trace

    told = ("To solve for x, we subtract 5 from both sides: 3x = 9. This simplifies to x = 3. "
            "Therefore, the value of x is 3.")
    ran_on = f"{told} 2. What is the value of y in the equation 2y - 3 = 11? We add 3 to both sides."
    trace = Trace(problem_id="p", segments=[
        Segment(attempt=0, index=0, tag="subq", body="What is x in 3x + 5 = 14?", text="<subq>What is x?</subq>"),
        Segment(attempt=0, index=1, tag=None, text=ran_on)])
    [sub] = trace_pairs(trace, Problem(id="p", domain="math", prompt="q"), "p")
    assert sub.procedure == told
    trace.segments[1] = Segment(attempt=0, index=1, tag=None, text=told)
    assert trace_pairs(trace, Problem(id="p", domain="math", prompt="q"), "p")[0].procedure == told
