import numpy as np

from agent.controller.evidence import RERANK_CANDIDATES, EvidenceIndex


class CountingEncoder:
    """Bag-of-letters vectors; counts how many texts it was asked to embed."""

    def __init__(self) -> None:
        self.embedded = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for row, t in zip(out, texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    row[ord(ch) - 97] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_embedding_cost_does_not_grow_with_the_document() -> None:
    filler = " ".join(f"Line {i} talks about weather number {i}." for i in range(500))
    context = filler + " The blue vault holds 412 maps. " + filler
    enc = CountingEncoder()
    index = EvidenceIndex({"context": context}, enc)
    hits = index.search("How many maps are in the blue vault?", k=1)
    assert hits[0].text == "The blue vault holds 412 maps."
    assert enc.embedded <= RERANK_CANDIDATES + 1  # candidates + the query, not ~1000 windows
    index.search("blue vault maps", k=1)
    assert enc.embedded <= 2 * (RERANK_CANDIDATES + 1)
    assert len(index.windows) > 10 * RERANK_CANDIDATES
