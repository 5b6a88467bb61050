"""Verbatim evidence: sentence windows over the problem's own text, found by lexical + embedding search.

Evidence is always cut out of a source by offsets, never rewritten, so a
record's text is by construction an exact substring of its source. Windows that
contain protocol tags are left out: inserting them would let document text
close an ``<evidence>`` block early.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel

from agent.controller.state import EvidenceRecord

Encode = Callable[[list[str]], np.ndarray]

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"')\]]*|(?=\n)|$)")
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    ["a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "what", "which", "who", "whom", "how", "do", "does", "did", "with", "by", "from", "as", "i", "you", "he", "she", "they", "we", "my", "your", "his", "her", "their", "our", "me"]
)
MAX_WINDOW_CHARS = 400
#: Windows the embedding model re-scores per query: the lexical top ones. Embedding
#: every window of a long document cost more than the engine itself on CPU.
RERANK_CANDIDATES = 48


class Window(BaseModel):
    source: str
    start: int
    end: int
    text: str


def split_windows(source: str, text: str, max_chars: int = MAX_WINDOW_CHARS,
                  skip: re.Pattern[str] | None = None) -> list[Window]:
    """Sentences with their offsets; over-long ones are cut at word boundaries; those ``skip`` finds are dropped."""
    out: list[Window] = []
    for m in _SENTENCE.finditer(text):
        raw = m.group(0)
        lead = len(raw) - len(raw.lstrip())
        s, e = m.start() + lead, m.start() + len(raw.rstrip())
        while e - s > max_chars:
            cut = text.rfind(" ", s, s + max_chars)
            cut = cut if cut > s else s + max_chars
            out.append(Window(source=source, start=s, end=cut, text=text[s:cut]))
            s = cut + 1 if text[cut : cut + 1] == " " else cut
        if e > s:
            out.append(Window(source=source, start=s, end=e, text=text[s:e]))
    return [w for w in out if _WORD.search(w.text) and not (skip and skip.search(w.text))]


def terms(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in _STOP]


_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:[ -][A-Z][\w'’-]*)*|\b\d+(?:\.\d+)?\b")


def entities(query: str) -> list[str]:
    """Names, places and numbers in ``query`` as written (capitalised runs, numbers): what multi-hop questions
    chain on, so a passage must hold them exactly, not only share their words."""
    found = []
    for m in _NAME.finditer(query):
        words = m.group(0).split()
        while words and words[0].lower() in _STOP | _QUESTION_WORDS:
            words = words[1:]
        if words:
            found.append(" ".join(words))
    return list(dict.fromkeys(found))


_QUESTION_WORDS = frozenset(["how", "many", "much", "where", "when", "why", "answer", "question", "name", "number"])


class EvidenceIndex:
    """All recallable text of one problem: prompt, context and folded raw segments."""

    def __init__(self, sources: dict[str, str], encode: Encode | None = None, skip: re.Pattern[str] | None = None):
        """``skip`` finds protocol tags: a sentence holding one is never offered as evidence."""
        self.sources: dict[str, str] = {}
        self._skip = skip
        self.windows: list[Window] = []
        self._tf: list[Counter[str]] = []
        self._df: Counter[str] = Counter()
        self._encode = encode
        self._vecs: dict[int, np.ndarray] = {}
        for name, text in sources.items():
            self.add_source(name, text)

    def add_source(self, name: str, text: str) -> None:
        if name in self.sources or not text:
            return
        self.sources[name] = text
        new = split_windows(name, text, skip=self._skip)
        for w in new:
            tf = Counter(terms(w.text))
            self._tf.append(tf)
            self._df.update(tf.keys())
        self.windows.extend(new)

    def _embeddings(self, ids: list[int]) -> np.ndarray:
        """Vectors of the given windows, embedding each window at most once."""
        todo = [i for i in ids if i not in self._vecs]
        if todo:
            fresh = np.asarray(self._encode([self.windows[i].text for i in todo]), dtype=np.float32)  # type: ignore[misc]
            self._vecs.update(zip(todo, fresh, strict=True))
        return np.stack([self._vecs[i] for i in ids])

    def scores(self, query: str) -> np.ndarray:
        """Hybrid score per window: BM25 (max-normalised) averaged with cosine similarity.

        Cosine is computed for the lexical top :data:`RERANK_CANDIDATES` windows
        (all of them in short texts); the rest keep their lexical half only.
        """
        n = len(self.windows)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        q = terms(query)
        avg = sum(sum(tf.values()) for tf in self._tf) / n or 1.0
        lex = np.zeros(n, dtype=np.float32)
        for t in set(q):
            df = self._df.get(t, 0)
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for i, tf in enumerate(self._tf):
                f = tf.get(t, 0)
                if f:
                    length = sum(tf.values())
                    lex[i] += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / avg))
        if lex.max() > 0:
            lex /= lex.max()
        lex += self._entity_bonus(query)
        if self._encode is None:
            return lex
        ids = [int(i) for i in np.argsort(-lex, kind="stable")[:RERANK_CANDIDATES]]
        qv = np.asarray(self._encode([query]), dtype=np.float32)[0]
        cos = np.zeros(n, dtype=np.float32)
        cos[ids] = np.clip(self._embeddings(ids) @ qv, 0.0, 1.0)
        return 0.5 * lex + 0.5 * cos

    def _entity_bonus(self, query: str) -> np.ndarray:
        """Per window, the share of the query's names and numbers it contains verbatim (whole words)."""
        names = entities(query)
        bonus = np.zeros(len(self.windows), dtype=np.float32)
        for name in names:
            pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
            for i, w in enumerate(self.windows):
                if pattern.search(w.text):
                    bonus[i] += 1.0 / len(names)
        return bonus

    def search(self, query: str, k: int = 3, exclude: Sequence[tuple[str, int]] = ()) -> list[EvidenceRecord]:
        """Top-k windows for ``query``, returned in document order."""
        if not query.strip():
            return []
        sc = self.scores(query)
        skip = set(exclude)
        order = [int(i) for i in np.argsort(-sc, kind="stable") if sc[i] > 0]
        picked = [i for i in order if (self.windows[i].source, self.windows[i].start) not in skip][:k]
        picked.sort(key=lambda i: (list(self.sources).index(self.windows[i].source), self.windows[i].start))
        return [self.record(query, self.windows[i], float(sc[i]), "search") for i in picked]

    def chain(self, query: str, k: int = 3, hops: int = 2, per_hop: int = 2) -> list[EvidenceRecord]:
        """Passages for ``query``, then hop by hop for the names the last hop brought in (from the best first one).

        Multi-hop questions name the first link only ("the person born in Marrow Cove"); the passage that
        matches it names the next ("Joram Quill was born in Marrow Cove."), whose own passages hold the answer
        or the next link. Each hop searches the new names with the question's other words.
        """
        found = self.search(query, k)
        seen = set(entities(query))
        rest = " ".join(t for t in terms(query) if not any(t in e.lower().split() for e in seen))
        last = [max(found, key=lambda r: r.score or 0.0)] if found else []
        for _ in range(hops):
            if not last:
                break
            new = [e for r in last for e in entities(r.text) if e not in seen and not e.replace(".", "").isdigit()]
            new = list(dict.fromkeys(new))
            if not new:
                break
            seen.update(new)
            last = self.search(f"{' '.join(new)} {rest}", per_hop, exclude=[(r.source, r.start) for r in found])
            found += last
        return found

    def record(self, query: str, w: Window, score: float, method: str) -> EvidenceRecord:
        return EvidenceRecord(query=query, text=w.text, source=w.source, start=w.start, score=score, method=method)

    def locate(self, text: str) -> tuple[str, int] | None:
        """Where ``text`` occurs verbatim, or None: the gate every model-copied span must pass."""
        if not text:
            return None
        for name, src in self.sources.items():
            at = src.find(text)
            if at >= 0:
                return name, at
        return None
