"""JSONL export and all-or-nothing, idempotent import of memory items.

Each line is one item: its model fields plus ``"type"`` (a registered kind's
``item_type``, e.g. concept or subroutine, or episode). Import validates every line before writing anything, so a file with one bad
line imports nothing and the error names the line. Every way a line can be bad
(binary, NUL bytes, JSON too deep, numbers too big for SQL, a field over
``MAX_FIELD_CHARS``) is one :class:`ImportFailed`, never another exception. Ids are not carried over: imported
items get fresh primary keys (and concepts/subroutines merge into twins as on add).

All items of a file are written in one transaction together with the file's content
hash, so an import that is killed leaves nothing behind, and importing the same
content again (even from another path) changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from memory.db import insert_ignore
from memory.kinds import KINDS
from memory.models import ImportRow, utcnow
from memory.schemas import Episode
from memory.stores import MemoryStores

#: The model of each exported ``type``: every registered kind's item, then episodes.
MODELS: dict[str, type[BaseModel]] = {**{k.item_type: k.item_cls for k in KINDS}, "episode": Episode}
_PAGE = 1000
#: Limits on what one line may hold (documented in the README): no field's JSON over a megabyte of text,
#: no line over 8 MB, nesting at most 64 deep, integers within SQL's 64 bits, no NUL anywhere.
MAX_FIELD_CHARS = 1_000_000
MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class ImportFailed(ValueError):
    """Raised with every bad line; nothing was imported."""

    def __init__(self, path: Path, errors: list[tuple[int, str]]):
        self.errors = errors
        shown = "\n".join(f"  line {n}: {msg}" for n, msg in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{path}: {len(errors)} bad line(s), nothing imported:\n{shown}{more}")


def _iter_items(stores: MemoryStores, item_type: str) -> Iterator[BaseModel]:
    store = stores.by_item_type()[item_type]
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


def _check_values(data: dict) -> str | None:
    """Why the parsed line cannot be stored as it is, or None: every value is walked, without recursion."""
    for name, value in data.items():
        if len(json.dumps(value, ensure_ascii=False)) > MAX_FIELD_CHARS:
            return f"field {name!r} is over {MAX_FIELD_CHARS:,} characters"
    todo: list[tuple[object, int]] = [(data, 0)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, str) and "\x00" in value:
            return "a string holds a NUL character"
        if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _INT_MAX:
            return f"number {str(value)[:20]} does not fit in 64 bits"
        if isinstance(value, float) and not math.isfinite(value):
            return f"number {value} is not finite"
        if isinstance(value, dict):
            todo += [(k, depth + 1) for k in value] + [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            todo += [(v, depth + 1) for v in value]
    return None


def _parse_line(raw: bytes) -> dict:
    """One line as a JSON object; every way it can be unreadable is a ValueError with a reason to show."""
    if b"\x00" in raw:
        raise ValueError("the line holds a NUL byte")
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"the line is over {MAX_LINE_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the line is not UTF-8 text (byte {exc.start + 1})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")  # noqa: TRY004 - reported per line
    if (problem := _check_values(data)) is not None:
        raise ValueError(problem)
    return data


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Numbered raw lines, each read with a bound, so one endless line cannot fill memory."""
    with open(path, "rb") as f:
        number = 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
            yield number, line


def parse_jsonl(path: Path, default_type: str | None = None) -> list[tuple[str, BaseModel]]:
    """Validate every line; raise :class:`ImportFailed` listing all bad lines (never any other error for bad content)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import file not found: {path}")
    items: list[tuple[str, BaseModel]] = []
    errors: list[tuple[int, str]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            data = _parse_line(line)
        except ValueError as exc:
            errors.append((number, str(exc)))
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
            errors.append((number, f"unknown field(s) for {item_type}: {', '.join(unknown)[:200]}"))
            continue
        data.pop("id", None)
        try:
            items.append((item_type, model.model_validate(data)))
        except ValidationError as exc:
            errors.append((number, _describe(exc)))
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            errors.append((number, f"{type(exc).__name__}: {str(exc)[:200]}"))
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
    by_type = {t: [i for tt, i in items if tt == t] for t in MODELS}
    counts = {t: len(found) for t, found in by_type.items() if found}
    kinds = [(store, by_type[store.item_type]) for store in stores.kinds.values()]
    vectors = [store.embed(found) if found else None for store, found in kinds]
    with contextlib.ExitStack() as locks:
        for store, _ in kinds:
            locks.enter_context(store.write_lock)
        with stores.db.write() as s:
            record = {"content_hash": digest, "source": str(Path(path).resolve())[-1024:], "counts": counts, "imported_at": utcnow()}
            if insert_ignore(s, ImportRow, record, ("content_hash",)) is None:
                before = s.get(ImportRow, digest)
                return ImportResult(counts={}, content_hash=digest, already_imported=True,
                                    imported_at=before.imported_at if before else None)
            written = [store.write(s, found, vecs) if found else None
                       for (store, found), vecs in zip(kinds, vectors, strict=True)]
            stores.episodes.write(s, by_type["episode"])
        for (store, _), new in zip(kinds, written, strict=True):
            if new is not None:
                store.index_written(new)
    return ImportResult(counts=counts, content_hash=digest)
