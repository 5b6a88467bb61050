"""JSONL export and all-or-nothing, idempotent import of memory items.

Each line is one item: its model fields plus ``"type"`` (concept, subroutine or
episode). Import validates every line before writing anything, so a file with one bad
line imports nothing and the error names the line. Ids are not carried over: imported
items get fresh primary keys (and concepts/subroutines merge into twins as on add).

All items of a file are written in one transaction together with the file's content
hash, so an import that is killed leaves nothing behind, and importing the same
content again (even from another path) changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from memory.db import insert_ignore
from memory.models import ImportRow, utcnow
from memory.schemas import Concept, Episode, Subroutine
from memory.stores import MemoryStores

ItemType = Literal["concept", "subroutine", "episode"]
MODELS: dict[str, type[BaseModel]] = {"concept": Concept, "subroutine": Subroutine, "episode": Episode}
_PAGE = 1000


class ImportFailed(ValueError):
    """Raised with every bad line; nothing was imported."""

    def __init__(self, path: Path, errors: list[tuple[int, str]]):
        self.errors = errors
        shown = "\n".join(f"  line {n}: {msg}" for n, msg in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{path}: {len(errors)} bad line(s), nothing imported:\n{shown}{more}")


def _store_for(stores: MemoryStores, item_type: str):
    return {"concept": stores.concepts, "subroutine": stores.subroutines, "episode": stores.episodes}[item_type]


def _iter_items(stores: MemoryStores, item_type: str) -> Iterator[BaseModel]:
    store = _store_for(stores, item_type)
    offset = 0
    while True:
        page = store.list(limit=_PAGE, offset=offset)
        yield from page
        if len(page) < _PAGE:
            return
        offset += _PAGE


def export_jsonl(stores: MemoryStores, path: Path, types: list[str] | None = None) -> dict[str, int]:
    """Write all items of ``types`` (default: all) to ``path``; returns counts per type."""
    counts: dict[str, int] = {}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for item_type in types or list(MODELS):
            counts[item_type] = 0
            for item in _iter_items(stores, item_type):
                f.write(json.dumps({"type": item_type, **item.model_dump(mode="json")}, ensure_ascii=False) + "\n")
                counts[item_type] += 1
    tmp.replace(path)
    return counts


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(line)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_jsonl(path: Path, default_type: str | None = None) -> list[tuple[str, BaseModel]]:
    """Validate every line; raise :class:`ImportFailed` listing all bad lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import file not found: {path}")
    items: list[tuple[str, BaseModel]] = []
    errors: list[tuple[int, str]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append((number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            if not isinstance(data, dict):
                errors.append((number, f"expected a JSON object, got {type(data).__name__}"))
                continue
            item_type = data.pop("type", default_type)
            if default_type is not None and item_type != default_type:
                errors.append((number, f"type {item_type!r} does not match --kind {default_type}"))
                continue
            model = MODELS.get(item_type) if isinstance(item_type, str) else None
            if model is None:
                errors.append((number, f"unknown or missing type {item_type!r} (expected one of {', '.join(MODELS)})"))
                continue
            if unknown := sorted(set(data) - set(model.model_fields)):
                errors.append((number, f"unknown field(s) for {item_type}: {', '.join(unknown)}"))
                continue
            data.pop("id", None)
            try:
                items.append((item_type, model.model_validate(data)))
            except ValidationError as exc:
                errors.append((number, _describe(exc)))
    if errors:
        raise ImportFailed(path, errors)
    return items


class ImportResult(BaseModel):
    """What an import did: counts per type, or nothing because the same content was imported before."""

    counts: dict[str, int]
    content_hash: str
    already_imported: bool = False
    imported_at: datetime | None = None


def content_hash(items: list[tuple[str, BaseModel]]) -> str:
    """Hash of the validated items, independent of line order, whitespace and key order."""
    lines = sorted(json.dumps({"type": t, **item.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False) for t, item in items)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def import_jsonl(stores: MemoryStores, path: Path, default_type: str | None = None) -> ImportResult:
    """Import a validated file in one transaction; a file whose content was imported before changes nothing."""
    items = parse_jsonl(path, default_type)
    digest = content_hash(items)
    concepts = [i for t, i in items if t == "concept"]
    subroutines = [i for t, i in items if t == "subroutine"]
    episodes = [i for t, i in items if t == "episode"]
    counts = {t: n for t, n in (("concept", len(concepts)), ("subroutine", len(subroutines)), ("episode", len(episodes))) if n}
    concept_vecs = stores.concepts.embed(concepts) if concepts else None
    subroutine_vecs = stores.subroutines.embed(subroutines) if subroutines else None
    with stores.concepts.write_lock, stores.subroutines.write_lock:
        with stores.db.write() as s:
            record = {"content_hash": digest, "source": str(Path(path).resolve())[-1024:], "counts": counts, "imported_at": utcnow()}
            if insert_ignore(s, ImportRow, record, ("content_hash",)) is None:
                before = s.get(ImportRow, digest)
                return ImportResult(counts={}, content_hash=digest, already_imported=True,
                                    imported_at=before.imported_at if before else None)
            new_concepts = stores.concepts.write(s, concepts, concept_vecs) if concepts else None
            new_subroutines = stores.subroutines.write(s, subroutines, subroutine_vecs) if subroutines else None
            stores.episodes.write(s, episodes)
        if new_concepts is not None:
            stores.concepts.index_written(new_concepts)
        if new_subroutines is not None:
            stores.subroutines.index_written(new_subroutines)
    return ImportResult(counts=counts, content_hash=digest)
