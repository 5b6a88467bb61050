"""Merge rules for near-duplicate memory items (pure functions, no I/O).

Concepts follow ArcMemo's rule: the surviving concept keeps its identity, problems are
appended, cues and notes are unioned without duplicates (up to :data:`MERGED_LINES`
each), parameters are merged by name, outcome counts are summed and the A/B trial figures are
the latest trial's. Subroutines keep the first procedure (the one already in use) and sum
their usage counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from memory.schemas import Concept, ConceptParameter, Subroutine

#: Cues and notes a merged concept keeps. Each merge added a rewording, so without a cap a
#: concept's notes drifted ("minutes to hours" became "... microseconds to nanoseconds") and
#: grew past the prompt's memory budget, so the concept could no longer be shown at all.
MERGED_LINES = 4


def union(existing: Iterable[str], new: Iterable[str], limit: int | None = None) -> list[str]:
    """Order-preserving union, the first ``limit`` kept; duplicates compare case- and whitespace-insensitively."""
    out: list[str] = []
    seen: set[str] = set()
    for item in [*existing, *new]:
        key = " ".join(item.split()).casefold()
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out[:limit]


def merge_parameters(existing: list[ConceptParameter], new: list[ConceptParameter]) -> list[ConceptParameter]:
    by_name = {p.name: p.model_copy() for p in existing}
    for p in new:
        old = by_name.get(p.name)
        if old is None:
            by_name[p.name] = p.model_copy()
        else:
            by_name[p.name] = old.model_copy(
                update={"type": old.type or p.type, "description": old.description or p.description}
            )
    return list(by_name.values())


def merge_concepts(existing: Concept, new: Concept) -> Concept:
    return existing.model_copy(
        update={
            "description": existing.description or new.description,
            "cues": union(existing.cues, new.cues, MERGED_LINES),
            "notes": union(existing.notes, new.notes, MERGED_LINES),
            "parameters": merge_parameters(existing.parameters, new.parameters),
            "output_type": existing.output_type or new.output_type,
            "problems": union(existing.problems, new.problems),
            "successes": existing.successes + new.successes,
            "failures": existing.failures + new.failures,
            "offered": existing.offered + new.offered,
            **_latest_trial(existing, new),
        }
    )


def _latest_trial(existing: Concept, new: Concept) -> dict[str, int | None]:
    """The trial figures of the latest trial: a concept admitted again was measured again, on the same rule."""
    latest = new if new.trial_n is not None else existing
    return {"trial_with": latest.trial_with, "trial_without": latest.trial_without, "trial_n": latest.trial_n}


def merge_subroutines(existing: Subroutine, new: Subroutine) -> Subroutine:
    return existing.model_copy(
        update={
            "source": existing.source or new.source,
            "uses": existing.uses + new.uses,
            "successes": existing.successes + new.successes,
        }
    )
