"""The result channel's records, and the reader that enforces its caps.

Model code shares the process that writes the channel, so it can write
anything to it. The parent therefore parses the channel as it arrives, one
line at a time, and stops at a byte cap or a record cap: what it holds is the
unfinished line (at most the byte cap) plus the records parsed so far (whose
text was within the byte cap), so a flood costs the parent bounded memory and
no more time than it takes to read the cap.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

ErrorKind = Literal["timeout", "memory", "forbidden", "exception", "syntax", "crash"]
#: Records a run may send besides one per call: start, load, end, and a few violations (the audit
#: hook ends the process after its first, but threads may race it).
EXTRA_RECORDS = 8
_SHOWN_BYTES = 80


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Start(_Record):
    kind: Literal["start"]
    network_isolated: bool


class Load(_Record):
    kind: Literal["load"]
    ok: bool
    value: Any = None
    error: ErrorKind | None = None
    message: str = Field("", max_length=4000)


class Call(_Record):
    kind: Literal["call"]
    index: int = Field(ge=0)
    ok: bool
    value: Any = None
    line: int | None = Field(None, ge=1, le=100_000)
    error: ErrorKind | None = None
    message: str = Field("", max_length=4000)


class Violation(_Record):
    kind: Literal["violation"]
    message: str = Field(max_length=400)


class End(_Record):
    kind: Literal["end"]


_RECORD = TypeAdapter(Annotated[Start | Load | Call | Violation | End, Field(discriminator="kind")])


class Parsed(BaseModel):
    """The valid records in the order the grammar allows, and every rule the channel broke."""

    start: Start | None = None
    load: Load | None = None
    calls: list[Call] = Field(default_factory=list)
    end: End | None = None
    violations: list[str] = Field(default_factory=list)


class ChannelReader:
    """Parses the channel chunk by chunk; stops for good at ``max_bytes`` bytes or ``max_records`` records."""

    def __init__(self, max_bytes: int, max_records: int) -> None:
        self.max_bytes = max_bytes
        self.max_records = max_records
        self.parsed = Parsed()
        self.stopped = False
        self._pending = bytearray()
        self._bytes = 0
        self._records = 0

    def feed(self, chunk: bytes) -> bool:
        """Take the next bytes read; ``False`` once a cap is reached (then stop reading and end the run)."""
        if self.stopped:
            return False
        self._bytes += len(chunk)
        if self._bytes > self.max_bytes:
            return self._stop(f"result channel: more than {self.max_bytes} bytes")
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            self._pending += chunk[start:newline]
            start = newline + 1
            line, self._pending = bytes(self._pending), bytearray()
            if line.strip() and not self._take(line):
                return False
        self._pending += chunk[start:]
        return True

    def finish(self) -> Parsed:
        """The channel closed (or the run ended): parse an unfinished last line, and return what was read."""
        if not self.stopped and self._pending.strip():
            self._take(bytes(self._pending))
        self._pending = bytearray()
        return self.parsed

    def _stop(self, why: str) -> bool:
        self.stopped = True
        self._pending = bytearray()
        self.parsed.violations.append(why)
        return False

    def _take(self, raw: bytes) -> bool:
        self._records += 1
        if self._records > self.max_records:
            return self._stop(f"result channel: more than {self.max_records} records")
        parsed = self.parsed
        try:
            rec = _RECORD.validate_json(raw)
        except ValidationError:
            parsed.violations.append(f"result channel: malformed record {raw[:_SHOWN_BYTES]!r}")
            return True
        if isinstance(rec, Violation):
            parsed.violations.append(rec.message)
        elif isinstance(rec, Start) and parsed.start is None and parsed.load is None:
            parsed.start = rec
        elif isinstance(rec, Load) and parsed.load is None:
            parsed.load = rec
        elif isinstance(rec, Call) and parsed.load is not None and parsed.end is None and rec.index == len(parsed.calls):
            parsed.calls.append(rec)
        elif isinstance(rec, End) and parsed.load is not None and parsed.end is None:
            parsed.end = rec
        else:
            parsed.violations.append(f"result channel: out-of-order {rec.kind!r} record")
        return True
