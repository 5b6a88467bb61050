from __future__ import annotations

import json

import pytest

from memory import Concept, Episode, Subroutine, open_memory
from memory.ingest import ingest_traces
from memory.schemas import Procedure
from memory.transfer import ImportFailed, export_jsonl, import_jsonl


def test_export_import_round_trip(stores, tmp_path, embedder):
    stores.concepts.add(Concept(name="gravity", description="objects fall down", cues=["floating cells"], domain="arc"))
    stores.subroutines.add(Subroutine(question="What is 7 times 8?", procedure="56", domain="math"))
    stores.episodes.add(Episode(run_id="r", problem_id="p", input="7*8", trace={"k": [1, 2]}, answer="56"))
    stores.procedures.add(Procedure(name="solve", signature="solve(n)", code="def solve(n):\n    return None\n",
                                    domain="game24", checked=24, passed=3, evidence=["1-2-3-4"]))
    path = tmp_path / "mem.jsonl"
    counts = {"concept": 1, "subroutine": 1, "procedure": 1, "episode": 1}
    assert export_jsonl(stores, path) == counts
    with open_memory(f"sqlite:///{tmp_path / 'other.db'}", tmp_path / "other-idx", embedder) as other:
        assert import_jsonl(other, path).counts == counts
        assert other.procedures.list()[0].model_dump(exclude={"id", "created_at", "updated_at"}) == \
            stores.procedures.list()[0].model_dump(exclude={"id", "created_at", "updated_at"})
        skip = {"id", "created_at", "updated_at"}
        assert other.concepts.list()[0].model_dump(exclude=skip) == stores.concepts.list()[0].model_dump(exclude=skip)
        assert other.subroutines.list()[0].model_dump(exclude=skip) == stores.subroutines.list()[0].model_dump(exclude=skip)
        assert other.episodes.list()[0].trace == {"k": [1, 2]}
        assert other.subroutines.search("seven times eight", k=1)[0].item.procedure == "56"


def test_malformed_lines_are_reported_by_number_and_nothing_is_imported(stores, tmp_path):
    lines = [
        json.dumps({"type": "concept", "name": "fine"}),
        "{not json",
        json.dumps({"type": "concept", "name": ""}),
        json.dumps({"type": "subroutine", "question": "q"}),
        json.dumps({"type": "concept", "name": "x", "kind": "weird"}),
        json.dumps(["a list"]),
        json.dumps({"name": "no type"}),
        json.dumps({"type": "subroutine", "question": "q", "procedure": "p", "colour": 3}),
        "",
        json.dumps({"type": "subroutine", "question": "ok", "procedure": "ok"}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportFailed) as err:
        import_jsonl(stores, path)
    assert [n for n, _ in err.value.errors] == [2, 3, 4, 5, 6, 7, 8]
    messages = dict(err.value.errors)
    assert "not valid JSON" in messages[2]
    assert "name" in messages[3]
    assert "procedure: Field required" in messages[4]
    assert "kind" in messages[5]
    assert "colour" in messages[8]
    assert "line 4" in str(err.value)
    assert stores.concepts.count() == 0 and stores.subroutines.count() == 0


def test_kind_option_types_untyped_lines(stores, tmp_path):
    path = tmp_path / "subs.jsonl"
    path.write_text(json.dumps({"question": "How to halve a number?", "procedure": "divide by 2"}) + "\n")
    assert import_jsonl(stores, path, "subroutine").counts == {"subroutine": 1}
    with pytest.raises(ImportFailed, match="does not match"):
        path.write_text(json.dumps({"type": "concept", "name": "x"}) + "\n")
        import_jsonl(stores, path, "subroutine")


def test_ingest_traces_batches_and_records_failures(stores, tmp_path):
    path = tmp_path / "traces.jsonl"
    records = [
        {"problem_id": "g1", "domain": "math", "subroutines": [
            {"question": "What is 20% of 150?", "procedure": "0.2*150 = 30"},
            {"question": "How many days are in 6 weeks?", "procedure": "6*7 = 42"},
        ]},
        {"question": "How do I convert 5 km to metres?", "procedure": "5*1000 = 5000"},
        "oops",
        {"subroutines": [{"question": "missing procedure"}]},
        {"id": "t9", "question": "What is 20% of 150?", "procedure": "duplicate of the first", "domain": "math"},
    ]
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    report = ingest_traces(stores.subroutines, path, batch_size=2)
    assert report.lines == 5 and report.traces_ok == 3
    assert [n for n, _ in report.failures] == [3, 4]
    assert report.subroutines_in == 4 and report.subroutines_new == 3
    first = stores.subroutines.search("20% of 150", k=1, domain="math")[0].item
    assert first.source == "g1" and first.procedure == "0.2*150 = 30"


GOOD = json.dumps({"type": "subroutine", "question": "q", "procedure": "p"}).encode()
#: Each hostile line, and what its error must say.
HOSTILE_LINES = {
    "huge_int": (b'{"type": "subroutine", "question": "q", "procedure": "p", "uses": 1000000000000000000000000000000}',
                 "does not fit in 64 bits"),
    "deep_nesting": (b'{"type": "episode", "problem_id": "p", "trace": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                     "nested too deeply"),
    "nested_past_the_limit": (b'{"type": "episode", "problem_id": "p", "trace": {"k": ' + b"[" * 80 + b"]" * 80 + b"}}",
                              "nested deeper than 64"),
    "binary": (b"\x89PNG\r\x1a\xff\xfe" + bytes(range(128, 256)), "not UTF-8"),
    "nul_byte": (b'{"type": "concept", "name": "a\x00b"}', "NUL byte"),
    "nul_escape": (b'{"type": "concept", "name": "a\\u0000b"}', "NUL character"),
    "huge_field": (json.dumps({"type": "subroutine", "question": "q", "procedure": "x" * 2_000_000}).encode(),
                   "over 1,000,000 characters"),
    "huge_line": (json.dumps({"type": "subroutine", "question": "q", "procedure": "x" * 20_000_000}).encode(),
                  "over 8,388,608 bytes"),
    "too_many_digits": (b'{"type": "concept", "name": "n", "successes": ' + b"9" * 5000 + b"}", "not valid JSON"),
    "infinity": (b'{"type": "concept", "name": "n", "failures": Infinity}', "not finite"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_every_bad_line_is_an_import_failed_with_its_line_number(stores, tmp_path, name):
    line, expected = HOSTILE_LINES[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(GOOD + b"\n" + line + b"\n" + GOOD + b"\n")
    with pytest.raises(ImportFailed) as err:
        import_jsonl(stores, path)
    assert [n for n, _ in err.value.errors] == [2], err.value.errors
    assert expected in err.value.errors[0][1]
    assert len(str(err.value)) < 2000
    assert stores.subroutines.count() == 0
