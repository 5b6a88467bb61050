"""What nodes need besides the state: the model, memory, budgets and per-problem indexes.

It travels as LangGraph's runtime context, not in the state, because none of it
belongs in a checkpoint (engines, open stores, embeddings) and all of it can be
rebuilt from the state when a run resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.config import Budgets, Settings
from agent.controller.copying import EvidenceCopier
from agent.controller.evidence import EvidenceIndex
from agent.controller.prompts import solve_messages
from agent.controller.state import SolveState
from agent.controller.trials import ConceptTrials
from agent.llm import TextGenerator
from memory.protocol import Memory
from tools.problem import Verifier


def kv_limits(settings: Settings) -> tuple[int | None, bool]:
    """The live-context cap the controller enforces, and whether it folds to stay under it.

    With ``triattention`` the engine evicts inside its own cache, so the live
    context may outgrow ``kv_budget`` and the controller must not cap it.
    """
    if settings.kv_policy == "triattention":
        return None, False
    return settings.kv_budget, settings.kv_policy == "fold" and settings.kv_budget is not None


@dataclass
class RunContext:
    llm: TextGenerator
    budgets: Budgets
    index: EvidenceIndex
    max_model_len: int
    kv_budget: int | None = None
    fold: bool = False
    memory: Memory | None = None
    read_memory: bool = False
    verifier: Verifier | None = None
    copier: EvidenceCopier | None = None
    prime: bool = True
    offer: tuple[str, ...] = ()
    """Tool tags the model may be told about (``Settings.offer_tools``); each is listed only when it applies."""
    trials: ConceptTrials | None = None
    """Where a new concept is tried before it is stored (held problems per family); None: nothing is stored."""
    _heads: dict[tuple[str, str, str, tuple[str, ...]], str] = field(default_factory=dict)

    def head(self, state: SolveState) -> str:
        """The rendered (system +) user turn of the current attempt (cached; it is re-sent every segment)."""
        p = state.problem
        key = (p.id, state.concepts_text + state.procedures_text + state.evidence_text, state.retry_prompt,
               tuple(state.tools))
        if key not in self._heads:
            msgs = solve_messages(p, state.concepts_text, state.retry_prompt, state.tools, state.procedures_text,
                                  state.evidence_text)
            self._heads = {key: self.llm.render_chat(msgs)}
        return self._heads[key]

    def live_prompt(self, state: SolveState, suffix: str = "") -> str:
        return self.head(state) + "".join(part.text for part in state.parts if part.live) + suffix
