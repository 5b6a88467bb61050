"""The train/dev split of an evaluation, chosen deterministically and recorded.

An ablation is only comparable across arms and reruns if every arm sees the same
problems, so the split is a value (ids + how they were chosen + source hashes)
written next to the results, and a rerun under the same name must reproduce it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from tools.problem import Problem


class SplitRecord(BaseModel):
    """How the train and dev problems were chosen; enough to rebuild the same split."""

    kind: str = Field(description="'math' or 'arc'.")
    method: str = Field(description="'files' (given train/dev), 'seeded' (one source split by a seed) or 'fixed'.")
    sources: dict[str, str] = Field(default_factory=dict, description="Role -> source (file path or dataset label).")
    source_sha256: dict[str, str] = Field(default_factory=dict, description="Role -> sha256 of a source file.")
    seed: int | None = None
    train_ids: list[str] = Field(default_factory=list)
    train_dropped: list[str] = Field(default_factory=list, description="Training problems left out (copies of dev).")
    dev_ids: list[str] = Field(default_factory=list)

    def fingerprint(self) -> str:
        """A short hash of the chosen ids: equal fingerprints mean the same problems in the same roles."""
        h = hashlib.sha256("\n".join(["train", *self.train_ids, "dev", *self.dev_ids]).encode())
        return h.hexdigest()[:10]


class Split(BaseModel):
    train: list[Problem]
    dev: list[Problem]
    record: SplitRecord


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_split(kind: str, train: Path | None, dev: Path | None, load: Callable[[Path], list[Problem]]) -> Split:
    """The split given as files (train optional, dev required), recorded with each file's hash."""
    if dev is None:
        raise ValueError("--train needs --dev (the problems the arms are compared on)")
    sources = {"dev": str(dev), **({"train": str(train)} if train else {})}
    shas = {role: file_sha256(Path(path)) for role, path in sources.items()}
    record = SplitRecord(kind=kind, method="files", sources=sources, source_sha256=shas)
    return Split(train=load(train) if train is not None else [], dev=load(dev), record=record)


def seeded_split(problems: list[Problem], dev_size: int, seed: int) -> tuple[list[Problem], list[Problem]]:
    """Shuffle with ``seed`` and take the first ``dev_size`` as dev, the rest as train (both in source order).

    Keeping source order inside each part makes the runs' progress easy to follow and
    leaves the choice itself to the seed alone.
    """
    if dev_size < 1:
        raise ValueError("--dev-size must be at least 1")
    if dev_size >= len(problems):
        raise ValueError(f"--dev-size {dev_size} leaves no training problems out of {len(problems)}")
    order = list(range(len(problems)))
    random.Random(seed).shuffle(order)
    dev_idx = set(order[:dev_size])
    dev = [p for i, p in enumerate(problems) if i in dev_idx]
    train = [p for i, p in enumerate(problems) if i not in dev_idx]
    return train, dev


def drop_overlap(train: list[Problem], dev: list[Problem]) -> tuple[list[Problem], list[str]]:
    """Train without the problems whose text also occurs in dev, and the ids dropped.

    Dev stays as it is (it is what the figures are about); learning on a copy of a dev
    problem would make the memory arms' scores not held-out. Public sets do contain such
    copies (ARC-AGI-1 evaluation 070dd51e is training 40853293).
    """
    dev_text = {" ".join(p.prompt.split()) for p in dev}
    kept = [p for p in train if " ".join(p.prompt.split()) not in dev_text]
    kept_ids = {p.id for p in kept}
    return kept, [p.id for p in train if p.id not in kept_ids]
