"""Storing subroutines from reasoning traces that are already decomposed (JSONL).

Each line carries ``subroutines: [{question, procedure}]`` or one ``question``/``procedure``
pair. A bad line is a recorded failure with its line number, not a lost batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from memory.schemas import Subroutine
from memory.subroutines import SubroutineStore


class IngestReport(BaseModel):
    lines: int = 0
    traces_ok: int = 0
    subroutines_in: int = 0
    subroutines_new: int = 0
    failures: list[tuple[int, str]] = Field(default_factory=list)


def _one(record: dict[str, Any]) -> list[Subroutine]:
    domain = record.get("domain", "general")
    source = str(record.get("source") or record.get("problem_id") or record.get("id") or "")
    if "subroutines" in record:
        raw = record["subroutines"]
        if not isinstance(raw, list) or not raw:
            raise ValueError("'subroutines' must be a non-empty list")
    elif "question" in record and "procedure" in record:
        raw = [{"question": record["question"], "procedure": record["procedure"]}]
    else:
        raise ValueError("expected 'subroutines': [{question, procedure}] or a 'question'/'procedure' pair")
    out = []
    for n, sub in enumerate(raw):
        if not isinstance(sub, dict):
            raise ValueError(f"subroutines[{n}] is not an object")
        try:
            out.append(Subroutine.model_validate({"domain": domain, "source": source, **sub}))
        except ValidationError as exc:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"subroutines[{n}]: {msgs}") from None
    return out


def ingest_traces(
    store: SubroutineStore,
    path: Path,
    batch_size: int = 64,
    domain: str | None = None,
) -> IngestReport:
    """Stream ``path`` into ``store``, ``batch_size`` traces per write."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trace file not found: {path}")
    report = IngestReport()
    before = store.count()
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        subs: list[Subroutine] = []
        for number, record in batch:
            try:
                subs.extend(_one(record))
            except ValueError as exc:
                report.failures.append((number, str(exc)))
                continue
            report.traces_ok += 1
        if subs:
            store.add_many(subs)
            report.subroutines_in += len(subs)
        batch.clear()

    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            report.lines += 1
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"expected a JSON object, got {type(record).__name__}")
            except (json.JSONDecodeError, ValueError) as exc:
                report.failures.append((number, f"not a JSON object ({exc})"))
                continue
            if domain is not None:
                record.setdefault("domain", domain)
            batch.append((number, record))
            if len(batch) >= batch_size:
                flush()
    flush()
    report.subroutines_new = store.count() - before
    return report
