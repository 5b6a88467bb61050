"""Model-copy recall: the model writes the evidence, under a constraint that admits only verbatim text.

Two mechanisms behind one interface, so the benchmark can compare them:

* :class:`SentenceCopier` - structured outputs: a ``choice`` among the
  document's own sentence windows (shortlisted by search when there are many,
  to keep the grammar small).
* :class:`TokenCopier` - RecaLLM-style token-level copying through the vLLM
  logits processor in :mod:`agent.engine.verbatim_logits`.

Whatever the engine returns, :func:`accept` admits it only if it is found
verbatim in a source, so an engine without the constraint (or a buggy one)
can never put paraphrased text inside ``<evidence>``.
"""

from __future__ import annotations

from typing import Any, Protocol

from agent.controller.evidence import EvidenceIndex
from agent.controller.state import EvidenceRecord
from agent.controller.tags import EVIDENCE
from agent.engine.verbatim_span import EXTRA_KEY, copy_spec
from agent.llm import GenParams

CHOICE_LIMIT = 64


class EvidenceCopier(Protocol):
    method: str

    def params(self, query: str, index: EvidenceIndex) -> GenParams | None: ...


class SentenceCopier:
    method = "copy-sentence"

    def __init__(self, count_tokens: Any, limit: int = CHOICE_LIMIT):
        self._count = count_tokens
        self.limit = limit

    def params(self, query: str, index: EvidenceIndex) -> GenParams | None:
        windows = index.windows
        if len(windows) > self.limit:
            sc = index.scores(query)
            top = sorted(range(len(windows)), key=lambda i: -sc[i])[: self.limit]
            windows = [windows[i] for i in sorted(top)]
        choices = list(dict.fromkeys(w.text for w in windows))
        if not choices:
            return None
        longest = max(self._count(c) for c in choices)
        return GenParams(max_tokens=longest + 8, choice=choices)


class TokenCopier:
    method = "copy-token"

    def __init__(self, tokenizer: Any, max_span: int = 128):
        self.tokenizer = tokenizer
        self.max_span = max_span
        self._cache: dict[tuple[str, ...], dict] = {}  # one entry: the current problem's sources

    def params(self, query: str, index: EvidenceIndex) -> GenParams | None:
        key = tuple(index.sources.values())
        if key not in self._cache:
            sources = [self.tokenizer.encode(t, add_special_tokens=False) for t in index.sources.values()]
            end = [i for i in [self.tokenizer.eos_token_id] if i is not None]
            self._cache = {key: copy_spec(sources, end, self.max_span)}
        return GenParams(max_tokens=self.max_span, stop=[EVIDENCE.close], include_stop=False,
                         extra_args={EXTRA_KEY: self._cache[key]})


def accept(text: str, query: str, index: EvidenceIndex, method: str) -> EvidenceRecord | None:
    """The copied span as a record if it occurs verbatim somewhere; else None."""
    cut = text.split(EVIDENCE.close, 1)[0]
    for candidate in (cut, cut.strip()):
        where = index.locate(candidate)
        if where is not None and candidate.strip():
            return EvidenceRecord(query=query, text=candidate, source=where[0], start=where[1], method=method)
    return None
