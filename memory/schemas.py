"""Pydantic models at the memory boundary: what callers write and read.

The SQLAlchemy rows (``memory.models``) are the storage form; these are the
exchange form used by the controller, the CLI's import/export and tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field


class ConceptParameter(BaseModel):
    name: str
    type: str = ""
    description: str = ""


EntryStatus = Literal["active", "demoted", "removed"]


class Concept(BaseModel):
    """An abstract, reusable idea (ArcMemo's fields plus bookkeeping)."""

    id: int | None = None
    name: str = Field(min_length=1)
    kind: Literal["structure", "routine"] = "routine"
    description: str = ""
    cues: list[str] = Field(default_factory=list, description="When the concept is relevant.")
    notes: list[str] = Field(default_factory=list, description="How to apply / implement it.")
    parameters: list[ConceptParameter] = Field(default_factory=list)
    output_type: str = ""
    domain: str = "general"
    problems: list[str] = Field(default_factory=list, description="Problem ids that produced or used it.")
    successes: int = Field(0, description="Problems solved when it was used.")
    failures: int = Field(0, description="Problems failed when it was used.")
    offered: int = Field(0, description="Problems whose shortlist it was on.")
    status: EntryStatus = "active"
    trial_with: int | None = Field(None, description="Held problems of its family solved with it shown, in the "
                                   "trial that admitted it (None: stored before trials, or imported).")
    trial_without: int | None = Field(None, description="The same held problems solved without it.")
    trial_n: int | None = Field(None, description="Held problems in that trial.")
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def embedding_text(self) -> str:
        return " ".join([self.name, self.description, *self.cues])


class Subroutine(BaseModel):
    """Procedural memory: a self-contained sub-question and the procedure that answers it."""

    id: int | None = None
    question: str = Field(min_length=1)
    procedure: str = Field(min_length=1)
    domain: str = "general"
    source: str = Field("", description="Trace / episode id it was distilled from.")
    uses: int = 0
    successes: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def embedding_text(self) -> str:
        return self.question


ProcedureStatus = Literal["active", "superseded", "demoted", "removed"]


class Procedure(BaseModel):
    """Procedural memory as code: a Python function of a family's inputs, checked in the jail before it is kept.

    ``passed``/``checked`` is its cross-check on training problems of the family it did not
    come from; it is offered only while that rate beats ``baseline``, the model's own rate on
    the family when it was admitted. ``answered`` is how many of the checked it returned an
    answer for (None for one stored before that was counted): a procedure that says None
    where it cannot parse a question is safe to trust on those it does answer. A repair is a new version in the same ``lineage``; the
    old one is kept as ``superseded``, so a bad repair can be undone.
    """

    id: int | None = None
    name: str = Field(min_length=1, description="The function's name, e.g. solve.")
    signature: str = Field(min_length=1)
    docstring: str = ""
    code: str = Field(min_length=1, description="The whole source: imports, helpers and the function.")
    domain: str = "general"
    lineage: str = Field("", description="Key shared by every version of one procedure.")
    version: int = 1
    parent_id: int | None = None
    evidence: list[str] = Field(default_factory=list, description="Problem ids it was verified on.")
    examples: list[str] = Field(default_factory=list, description="Texts of problems it wrote or verified: what "
                                "retrieval matches a new problem to, story to story.")
    checked: int = 0
    passed: int = 0
    answered: int | None = None
    baseline: float = 0.0
    status: ProcedureStatus = "active"
    offered: int = 0
    used: int = 0
    solved: int = 0
    source: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def rate(self) -> float:
        return self.passed / self.checked if self.checked else 0.0

    @property
    def answers_checked(self) -> int:
        """Check problems it gave an answer for (all it was checked on, where that was not counted)."""
        return self.checked if self.answered is None else self.answered

    @property
    def answer_rate(self) -> float:
        """Right among the check problems it answered: how far its answer can be taken without a check."""
        return self.passed / self.answers_checked if self.answers_checked else 0.0

    def embedding_text(self) -> str:
        return f"{self.signature} {self.docstring}"


class Episode(BaseModel):
    """One attempted problem, solved or not."""

    id: int | None = None
    run_id: str = ""
    problem_id: str
    domain: str = "general"
    input: str
    trace: dict[str, Any] = Field(default_factory=dict)
    answer: str | None = None
    verdict: Literal["correct", "wrong", "unverified", "error"] = "unverified"
    score: float = 0.0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    concepts_offered: list[int] = Field(default_factory=list)
    concepts_used: list[int] = Field(default_factory=list)
    subroutines_offered: list[int] = Field(default_factory=list)
    subroutines_used: list[int] = Field(default_factory=list)
    created_at: datetime | None = None


ItemT = TypeVar("ItemT", bound=BaseModel)


class SearchHit(BaseModel, Generic[ItemT]):
    """A stored item of any registered memory kind, with its id and its similarity to the query."""

    id: int
    score: float
    item: ItemT
