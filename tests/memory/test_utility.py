"""Utility: concepts count offers, uses and solves; one that does not help is demoted (not offered), then removed."""

from __future__ import annotations

from memory.schemas import Concept
from memory.utility import JUDGE_AFTER, judged


def test_the_rule_waits_for_evidence_then_demotes_then_removes():
    assert judged("active", JUDGE_AFTER - 1, 0, 0.5) == "active"
    assert judged("active", JUDGE_AFTER, 3, 0.5) == "active"
    assert judged("active", JUDGE_AFTER, 2, 0.5) == "demoted"
    assert judged("demoted", JUDGE_AFTER + 1, 2, 0.5) == "removed"
    assert judged("active", 2 * JUDGE_AFTER, 0, 0.5) == "removed"
    assert judged("superseded", 50, 0, 0.5) == "superseded"


def test_a_concept_below_the_arms_rate_stops_being_offered(stores):
    good, bad = stores.concepts.add_many([
        Concept(name="check units before adding", description="convert to one unit first", domain="math"),
        Concept(name="multiply every quantity", description="multiply the numbers you see", domain="math"),
    ])
    for n in range(JUDGE_AFTER):
        rate = stores.concepts.count_solve("math", n < 3)
        stores.concepts.record_offers([good.id, bad.id])
        stores.concepts.record_outcome([good.id], True, f"p{n}", baseline=rate)
        stores.concepts.record_outcome([bad.id], n == 0, f"p{n}", baseline=rate)
    assert stores.concepts.solve_rate("math") == 3 / JUDGE_AFTER
    good, bad = stores.concepts.get(good.id), stores.concepts.get(bad.id)
    assert (good.offered, good.successes, good.failures, good.status) == (JUDGE_AFTER, JUDGE_AFTER, 0, "active")
    assert (bad.offered, bad.successes, bad.failures, bad.status) == (JUDGE_AFTER, 1, JUDGE_AFTER - 1, "demoted")
    found = [h.item.name for h in stores.concepts.search("adding quantities", k=5, domain="math")]
    assert found == ["check units before adding"]
    assert "offered 5, used 5, solved 1 demoted" in stores.concepts.line(bad)

    stores.concepts.record_outcome([bad.id], False, "p9", baseline=0.6)
    assert stores.concepts.get(bad.id).status == "removed"


def test_without_a_baseline_counts_only(stores):
    [c] = stores.concepts.add_many([Concept(name="draw a table", description="rows and columns")])
    for _ in range(2 * JUDGE_AFTER):
        stores.concepts.record_outcome([c.id], False)
    c = stores.concepts.get(c.id)
    assert (c.failures, c.status) == (2 * JUDGE_AFTER, "active")
