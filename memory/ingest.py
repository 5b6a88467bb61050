"""Building subroutines from recorded reasoning traces: reading, batching and storing.

The decomposition itself is pluggable. A decomposer takes a batch of trace records
(parsed JSONL objects) and returns, per record, the subroutines it yields or the
exception that record raised, so one bad trace is a recorded failure, not a lost batch.
The controller supplies an LLM decomposer; the default here reads traces that are
already decomposed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from memory.schemas import Subroutine
from memory.subroutines import SubroutineStore

Decomposed = list[Subroutine] | Exception
Decomposer = Callable[[list[dict[str, Any]]], list[Decomposed]]


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


def predecomposed(records: list[dict[str, Any]]) -> list[Decomposed]:
    """Default decomposer: traces that already carry their subroutines."""
    results: list[Decomposed] = []
    for record in records:
        try:
            results.append(_one(record))
        except ValueError as exc:
            results.append(exc)
    return results


def ingest_traces(
    store: SubroutineStore,
    path: Path,
    decomposer: Decomposer = predecomposed,
    batch_size: int = 64,
    domain: str | None = None,
) -> IngestReport:
    """Stream ``path`` in batches through ``decomposer`` into ``store``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trace file not found: {path}")
    report = IngestReport()
    before = store.count()
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        if not batch:
            return
        records = [r for _, r in batch]
        try:
            results = decomposer(records)
            if len(results) != len(records):
                raise RuntimeError(f"decomposer returned {len(results)} results for {len(records)} traces")
        except Exception as exc:  # a failing decomposer fails its batch's lines, not the run
            results = [exc] * len(records)
        subs: list[Subroutine] = []
        for (number, _), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                report.failures.append((number, str(result) or type(result).__name__))
                continue
            report.traces_ok += 1
            subs.extend(result)
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
