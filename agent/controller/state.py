"""The graph's typed state and the trace it leaves behind.

The state is pydantic so LangGraph can checkpoint it and a resumed run sees
exactly what the crashed one had. The :class:`Trace` is the observable record:
the Python API returns it, episodes store it, ``mnemos trace show`` prints it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agent.config import Budgets
from tools.problem import Problem, Verdict


class Part(BaseModel):
    """One piece of the assistant's running transcript; folded parts leave the live prompt."""

    kind: str = Field(description="'think', 'note', or the name of the controller block it is (evidence, options, ...).")
    text: str
    segment: int | None = None
    live: bool = True


class Segment(BaseModel):
    """One model generation inside the think loop (or a forced answer)."""

    index: int
    attempt: int
    text: str
    tag: str | None = None
    body: str = ""
    finish_reason: str = "stop"
    violations: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    forced: bool = False
    folded: bool = False


class EvidenceRecord(BaseModel):
    """A span inserted as evidence; ``text == sources[source][start:start+len(text)]`` always."""

    query: str
    text: str
    source: str = Field(description="'context', 'prompt' or 'segment:N' (a folded raw segment).")
    start: int
    score: float = 0.0
    method: str = Field("search", description="search | copy-sentence | copy-token")


class ToolCall(BaseModel):
    node: str
    kind: str
    input: str = ""
    output: str = ""
    ok: bool = True
    ids: list[int] = Field(default_factory=list)
    seconds: float = 0.0
    figures: dict[str, int] = Field(default_factory=dict, description="What the call measured, by name, so reports "
                                    "read numbers instead of parsing ``output``'s wording.")


class NodeStat(BaseModel):
    calls: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    cached_tokens: int = Field(0, description="Of prompt_tokens, those served from the engine's prefix cache.")


class AttemptRecord(BaseModel):
    index: int
    answer: str | None
    end_reason: str
    verdict: Verdict | None = None


class Trace(BaseModel):
    """Everything one solve did, in order, with per-node cost."""

    problem_id: str
    thread_id: str = ""
    mode: str = "inject"
    recall_mode: str = "controller"
    path: list[str] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    evidence: list[EvidenceRecord] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    node_stats: dict[str, NodeStat] = Field(default_factory=dict)
    attempts: list[AttemptRecord] = Field(default_factory=list)
    concepts_offered: list[int] = Field(default_factory=list)
    concepts_used: list[int] = Field(default_factory=list)
    subroutines_offered: list[int] = Field(default_factory=list)
    subroutines_used: list[int] = Field(default_factory=list)
    procedures_offered: list[int] = Field(default_factory=list)
    procedures_used: list[int] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    end_reason: str = ""
    branches: list[Trace] = Field(default_factory=list, description="Diversity mode: one trace per subroutine.")
    chosen_branch: int | None = None

    def charge(self, node: str, prompt_tokens: int = 0, generated_tokens: int = 0, cached_tokens: int = 0) -> None:
        stat = self.node_stats.setdefault(node, NodeStat())
        stat.prompt_tokens += prompt_tokens
        stat.generated_tokens += generated_tokens
        stat.cached_tokens += cached_tokens

    def charge_completion(self, node: str, out: Any) -> None:
        """Charge one engine completion to ``node``."""
        self.charge(node, out.prompt_tokens, out.generated_tokens, out.cached_tokens)

    @property
    def cached_tokens(self) -> int:
        return sum(s.cached_tokens for s in self.node_stats.values()) + sum(b.cached_tokens for b in self.branches)

    @property
    def prompt_tokens(self) -> int:
        return sum(s.prompt_tokens for s in self.node_stats.values()) + sum(b.prompt_tokens for b in self.branches)

    @property
    def generated_tokens(self) -> int:
        own = sum(s.generated_tokens for s in self.node_stats.values())
        return own + sum(b.generated_tokens for b in self.branches)

    def render(self) -> str:
        """A readable, top-to-bottom account for terminals."""
        from agent.controller.render import render_trace

        return render_trace(self)


class SolveResult(BaseModel):
    """What a solve returns: the answer and verdict, with headline figures lifted from the trace."""
    problem_id: str
    answer: str | None
    attempts: list[str] = Field(default_factory=list, description="Answer of each verified attempt, newest last.")
    end_reason: str
    verdict: Verdict | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    trace: Trace
    concepts_offered: list[int] = Field(default_factory=list)
    concepts_used: list[int] = Field(default_factory=list)
    subroutines_offered: list[int] = Field(default_factory=list)
    subroutines_used: list[int] = Field(default_factory=list)
    mode: str = "inject"
    episode_id: int | None = Field(None, description="Set when a caller records the solve as an episode.")

    @classmethod
    def of(cls, problem_id: str, trace: Trace, answer: str | None, attempts: list[str],
           verdict: Verdict | None) -> SolveResult:
        """The one way to build a result, so its figures always agree with its trace."""
        return cls(problem_id=problem_id, answer=answer, attempts=attempts, end_reason=trace.end_reason,
                   verdict=verdict, prompt_tokens=trace.prompt_tokens, generated_tokens=trace.generated_tokens,
                   trace=trace, concepts_offered=trace.concepts_offered, concepts_used=trace.concepts_used,
                   subroutines_offered=trace.subroutines_offered, subroutines_used=trace.subroutines_used,
                   mode=trace.mode)


class AttemptCounters(BaseModel):
    """What the current attempt has spent. Field names are the ``Budgets`` names they are checked against;
    a retry starts a new attempt by replacing the whole model."""

    segments: int = 0
    tokens: int = 0
    recalls: int = 0
    retrievals: int = 0
    tool_calls: int = 0
    repeats: int = Field(0, description="Recalls that repeated an earlier query.")
    recall_queries: list[str] = Field(default_factory=list, description="Normalised queries recalled so far.")

    def bump(self, name: str, by: int = 1, **changes: object) -> AttemptCounters:
        """A copy with ``name`` raised by ``by`` (and any other fields replaced)."""
        return self.model_copy(update={name: getattr(self, name) + by, **changes})

    def spent(self, name: str, budgets: Budgets) -> bool:
        return getattr(self, name) >= getattr(budgets, name)


class SolveState(BaseModel):
    """What flows between nodes. Counters are per attempt; the trace spans the whole solve."""

    problem: Problem
    trace: Trace
    learn: bool = False
    concepts_text: str = ""
    concepts_ready: bool = Field(False, description="Concepts were chosen already (diversity branches share them).")
    procedures_text: str = Field("", description="Stored procedures shown by signature and docstring.")
    evidence_text: str = Field("", description="Passages found for the question before the first segment, shown "
                               "in the user turn.")
    preload: str = Field("", description="Their source, defined in the <python> jail before the model's code.")
    preset_options: list[tuple[int, str, str]] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list, description="Tool tags listed for the model (those that apply).")
    attempt: int = 0
    retry_prompt: str = ""
    answers: list[str] = Field(default_factory=list)
    done: bool = False
    # Per attempt: a retry resets everything below to its default (see ``next_attempt``).
    parts: list[Part] = Field(default_factory=list)
    counters: AttemptCounters = Field(default_factory=AttemptCounters)
    carry: str = ""
    request: str | None = Field(None, description="The model tag the last segment closed (a name in the tag table).")
    request_body: str = ""
    answer: str | None = None
    attempt_end: str | None = Field(None, description="Why the current attempt's thinking stopped.")
    verdict: Verdict | None = None

    def next_attempt(self, retry_prompt: str) -> dict[str, object]:
        """The update that starts attempt ``attempt + 1``: every per-attempt field back to its default."""
        fresh = {name: field.get_default(call_default_factory=True)
                 for name, field in SolveState.model_fields.items() if name in _PER_ATTEMPT}
        return {**fresh, "attempt": self.attempt + 1, "retry_prompt": retry_prompt}


_PER_ATTEMPT = ("parts", "counters", "carry", "request", "request_body", "answer", "attempt_end", "verdict")
