from __future__ import annotations

import pytest

from memory import Concept, ConceptParameter, Episode, MemoryItemNotFound, Subroutine, open_memory
from memory.schemas import SearchHit


def concept(name: str, **kw) -> Concept:
    return Concept(name=name, **kw)


def test_concept_round_trip(stores):
    c = Concept(
        name="flood fill enclosed regions",
        kind="routine",
        description="Fill every cell enclosed by a border colour.",
        cues=["closed shapes with holes"],
        notes=["BFS from the border, fill the rest"],
        parameters=[ConceptParameter(name="fill_colour", type="int", description="colour to fill")],
        output_type="grid",
        domain="arc",
        problems=["arc-1"],
        successes=2,
        failures=1,
    )
    stored = stores.concepts.add(c)
    assert stored.id is not None and stored.created_at is not None
    got = stores.concepts.get(stored.id)
    assert got.model_dump(exclude={"id", "created_at", "updated_at"}) == c.model_dump(exclude={"id", "created_at", "updated_at"})
    assert stores.concepts.count() == 1
    assert stores.concepts.names() == ["flood fill enclosed regions"]
    with pytest.raises(MemoryItemNotFound, match="no concept with id 999"):
        stores.concepts.get(999)


def test_subroutine_and_episode_round_trip(stores):
    s = stores.subroutines.add(Subroutine(question="What is 15% of 80?", procedure="0.15 * 80 = 12", domain="math", source="gsm-1"))
    assert stores.subroutines.get(s.id).procedure == "0.15 * 80 = 12"
    e = Episode(
        run_id="run-a",
        problem_id="p1",
        input="What is 15% of 80?",
        trace={"segments": [{"text": "0.15*80", "tokens": 5}]},
        answer="12",
        verdict="correct",
        score=1.0,
        prompt_tokens=10,
        generated_tokens=5,
        seconds=0.5,
        subroutines_offered=[s.id],
        subroutines_used=[s.id],
    )
    stored = stores.episodes.add(e)
    assert stores.episodes.get(stored.id).model_dump(exclude={"id", "created_at"}) == e.model_dump(exclude={"id", "created_at"})
    stores.episodes.add(e.model_copy(update={"run_id": "run-b", "answer": "13", "verdict": "wrong"}))
    retry = stores.episodes.add(e.model_copy(update={"answer": "12.0"}))
    assert stores.episodes.find("run-a", "p1").id == retry.id
    assert stores.episodes.find("run-a", "nope") is None
    assert stores.episodes.runs() == ["run-a", "run-b"]
    assert [x.run_id for x in stores.episodes.list(run_id="run-b")] == ["run-b"]
    assert len(stores.episodes.list(limit=2)) == 2


def test_search_ranks_by_meaning_and_filters(stores):
    stores.concepts.add_many(
        [
            concept("fraction addition", description="add fractions with a common denominator", domain="math"),
            concept("unit conversion", description="convert kilometres to miles", domain="math"),
            concept("grid rotation", kind="structure", description="rotate the grid by 90 degrees", domain="arc"),
            concept("mirror symmetry", description="reflect the grid along an axis", domain="arc"),
        ]
    )
    hits = stores.concepts.search("sum of two fractions", k=2)
    assert all(isinstance(h, SearchHit) for h in hits)
    assert hits[0].item.name == "fraction addition" and hits[0].score > hits[1].score
    assert {h.item.domain for h in stores.concepts.search("sum of two fractions", k=4, domain="arc")} == {"arc"}
    assert [h.item.name for h in stores.concepts.search("turn the picture", k=4, kind="structure")] == ["grid rotation"]
    strict = stores.concepts.search("sum of two fractions", k=4, min_score=hits[0].score - 1e-4)
    assert [h.item.name for h in strict] == ["fraction addition"]
    assert stores.concepts.search("anything", k=3, domain="no-such-domain") == []


def test_same_name_merges_by_arcmemo_rule(stores):
    a = stores.concepts.add(
        concept(
            "flood fill",
            cues=["enclosed area"],
            notes=["use BFS"],
            parameters=[ConceptParameter(name="colour")],
            problems=["p1"],
            successes=1,
        )
    )
    b = stores.concepts.add(
        concept(
            "flood fill",
            cues=["Enclosed  area", "holes in shapes"],
            notes=["use BFS", "stop at borders"],
            parameters=[ConceptParameter(name="colour", type="int"), ConceptParameter(name="seed")],
            problems=["p2", "p1"],
            successes=2,
            failures=1,
        )
    )
    assert b.id == a.id and stores.concepts.count() == 1
    assert b.cues == ["enclosed area", "holes in shapes"]
    assert b.notes == ["use BFS", "stop at borders"]
    assert [(p.name, p.type) for p in b.parameters] == [("colour", "int"), ("seed", "")]
    assert b.problems == ["p1", "p2"]
    assert (b.successes, b.failures) == (3, 1)
    assert stores.concepts.index.count == 1


def test_a_concept_keeps_its_latest_trial(stores):
    first = stores.concepts.add(concept("unit rate first", trial_with=5, trial_without=2, trial_n=8))
    assert (first.trial_with, first.trial_without, first.trial_n) == (5, 2, 8)
    assert "trial 5/8 with vs 2/8 without" in stores.concepts.line(first)
    untried = stores.concepts.add(concept("unit rate first", problems=["p9"]))  # e.g. imported: keeps the trial
    assert (untried.trial_with, untried.trial_without, untried.trial_n) == (5, 2, 8)
    again = stores.concepts.add(concept("unit rate first", trial_with=6, trial_without=1, trial_n=7))
    assert (again.id, again.trial_with, again.trial_without, again.trial_n) == (first.id, 6, 1, 7)
    assert "trial" not in stores.concepts.line(stores.concepts.add(concept("never tried")))


def test_merging_keeps_the_first_cues_and_notes_so_a_concept_cannot_drift(stores):
    from memory.merge import MERGED_LINES

    first = stores.concepts.add(concept("time conversion", cues=["minutes given"], notes=["divide minutes by 60"]))
    for n in range(2 * MERGED_LINES):
        stores.concepts.add(concept("time conversion", cues=[f"unit {n}"], notes=[f"convert unit {n} to unit {n + 1}"]))
    merged = stores.concepts.get(first.id)
    assert merged.cues == ["minutes given"] + [f"unit {n}" for n in range(MERGED_LINES - 1)]
    assert merged.notes[0] == "divide minutes by 60" and len(merged.notes) == MERGED_LINES


def test_near_duplicates_merge_but_distinct_items_and_other_domains_do_not(stores):
    first = stores.subroutines.add(Subroutine(question="How do I add two fractions?", procedure="common denominator", uses=1))
    twins = stores.subroutines.add_many(
        [
            Subroutine(question="How do you add two fractions?", procedure="other wording", uses=2),
            Subroutine(question="How do I add two fractions?", procedure="in another domain", domain="arc"),
            Subroutine(question="How many seconds are in a day?", procedure="24*3600"),
            Subroutine(question="How many seconds are there in one day?", procedure="dup inside the batch"),
        ]
    )
    assert twins[0].id == first.id and twins[0].uses == 3 and twins[0].procedure == "common denominator"
    assert twins[1].id != first.id
    assert twins[3].id == twins[2].id
    assert stores.subroutines.count() == 3 == stores.subroutines.index.count


def test_outcomes_and_uses_are_counted(stores):
    a, b = stores.concepts.add_many([concept("alpha"), concept("beta")])
    stores.concepts.record_outcome([a.id, b.id], True, "p7")
    stores.concepts.record_outcome([a.id], False, "p7")
    got = stores.concepts.get(a.id)
    assert (got.successes, got.failures, got.problems) == (1, 1, ["p7"])
    with pytest.raises(MemoryItemNotFound):
        stores.concepts.record_outcome([a.id, 12345], True)
    assert stores.concepts.get(a.id).successes == 1
    s = stores.subroutines.add(Subroutine(question="q?", procedure="p"))
    stores.subroutines.record_use([s.id, s.id], success=True)
    stores.subroutines.record_use([s.id], success=False)
    got = stores.subroutines.get(s.id)
    assert (got.uses, got.successes) == (3, 2)
    with pytest.raises(MemoryItemNotFound):
        stores.subroutines.record_use([999], True)


def test_list_pagination_and_domain(stores):
    names = ["gravity", "recursion", "symmetry", "prime factors", "colour swap", "area of a circle", "sorting"]
    stores.concepts.add_many([concept(n, domain="arc" if i % 2 else "math") for i, n in enumerate(names)])
    assert stores.concepts.count() == 7
    page1 = stores.concepts.list(limit=3)
    page2 = stores.concepts.list(limit=3, offset=3)
    assert len(page1) == 3 and len(page2) == 3 and page1[-1].id < page2[0].id
    assert {c.domain for c in stores.concepts.list(domain="arc")} == {"arc"}
    assert len(stores.concepts.list(domain="arc")) == 3


def test_data_survives_reopen(db_url, index_dir, embedder):
    with open_memory(db_url, index_dir, embedder) as m:
        m.subroutines.add(Subroutine(question="How to compute the area of a circle?", procedure="pi r^2"))
    with open_memory(db_url, index_dir, embedder) as m:
        assert m.subroutines.count() == 1 == m.subroutines.index.count
        assert m.subroutines.search("circle area", k=1)[0].item.procedure == "pi r^2"


def test_grows_into_an_approximate_index_and_filters_still_work(db_url, index_dir, embedder):
    from retrieval.index import IndexConfig

    cfg = IndexConfig(flat_threshold=60, nlist=4, nprobe=1)
    with open_memory(db_url, index_dir, embedder, index_config=cfg, merge_threshold=None) as m:
        items = [
            Subroutine(question=f"Convert {i} {u} into metres", procedure=f"multiply {i} by factor", domain=u)
            for i in range(40)
            for u in ("feet", "inches")
        ]
        m.subroutines.add_many(items)
        assert m.subroutines.index.layout.startswith("ivf")
        assert m.subroutines.index.count == m.subroutines.count()
        hits = m.subroutines.search("Convert 17 inches into metres", k=3, domain="inches")
        assert hits[0].item.question == "Convert 17 inches into metres"
        assert {h.item.domain for h in hits} == {"inches"}
