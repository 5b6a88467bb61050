"""`mnemos report NAME --html`: a real evaluation's page, opened in headless Chromium, and the parts behind it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import Settings
from agent.evaluation.archive import load_archive
from agent.evaluation.html_report import Limits, build_page, render_html, write_html
from agent.evaluation.machine import (
    Machine,
    record_machine,
    recorded_machines,
    this_machine,
)
from agent.evaluation.memory_view import memory_entries, usage
from agent.evaluation.synthetic import (
    frozen_trace,
    synthetic_episode,
    synthetic_evaluation,
)
from agent.evaluation.trace_view import cut_items, timeline, trace_view
from tests.evaluation.chromium import Chromium, find_chromium
from tests.evaluation.test_eval_cli import fake_engine  # noqa: F401 - the scripted model, for the end-to-end test
from tools.domains.split import SplitRecord

ARCHIVE = Path(__file__).resolve().parents[2] / "docs" / "results" / "archives" / "g24-r2.tar.gz"
HOSTILE = ('Numbers: 1 1 2 9 <script>window.__pwned = 1; document.title = "pwned"</script>'
           '<img src=x onerror="window.__pwned = 2">')
HOSTILE_CODE = 'def solve(numbers):\n    return "</pre><script>window.__pwned = 3</script>"\n'


@pytest.fixture(scope="module")
def g24(tmp_path_factory):
    """The Game of 24 evaluation g24-r2 restored into a throwaway home, with one problem text, one model output
    and one procedure's code made hostile, rendered through the CLI."""
    home = tmp_path_factory.mktemp("g24home")
    settings = Settings(home=home)
    load_archive(settings, ARCHIVE)
    with sqlite3.connect(home / "mnemos.db") as db:
        db.execute("UPDATE episodes SET input = ? WHERE problem_id = '1-1-2-9'", (HOSTILE,))
        trace = json.loads(db.execute("SELECT trace FROM episodes WHERE run_id = 'g24-r2-plain' AND "
                                      "problem_id = '1-1-2-9'").fetchone()[0])
        trace["text"] = "I think <script>window.__pwned = 4</script> the answer is none"
        db.execute("UPDATE episodes SET trace = ? WHERE run_id = 'g24-r2-plain' AND problem_id = '1-1-2-9'",
                   (json.dumps(trace),))
    with sqlite3.connect(home / "runs" / "g24-r2" / "frozen-store" / "memory.db") as db:
        db.execute("UPDATE procedures SET code = ? WHERE id = 1", (HOSTILE_CODE,))
    out = home / "page" / "g24.html"
    assert main(["--home", str(home), "report", "g24-r2", "--html", str(out)]) == 0
    return out


def test_the_page_of_a_real_evaluation_is_one_small_file(g24):
    out = g24
    html = out.read_text()
    assert out.stat().st_size < 2_000_000  # its render time is benchmarks/html_report.py's
    assert "frozen solved, plain did not: 172" in html and "plain solved, frozen did not: 0" in html
    assert "first 150 of these 172 problems" in html  # the page says which traces it does not carry
    assert "14/24 (58%)" in html and "g24-r2-train:10-12-13-13 complement1" in html  # cross-check and source
    assert "split" in html.lower() and SplitRecord.model_validate_json(
        (out.parents[1] / "runs" / "g24-r2" / "split.json").read_text()).fingerprint() in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing fetched
    for hostile in ("<script", "<img src=x"):
        assert hostile not in html


def test_the_page_in_headless_chromium(g24, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed and could not be: scripts/test.sh installs Debian's `chromium` "
                    "with apt-get where it has apt-get and root (or set MNEMOS_TEST_CHROMIUM to a Chromium binary)")
    out = g24
    with Chromium(chromium, tmp_path / "profile") as browser:
        page = browser.page()
        page.open(out.resolve().as_uri())
        assert page.evaluate("document.readyState") == "complete"
        assert page.evaluate("document.title") == "mnemos evaluation g24-r2"

        visible = "(el => !!el && el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().height > 0 " \
                  "&& getComputedStyle(el).display !== 'none' && getComputedStyle(el).visibility !== 'hidden')"
        assert page.evaluate(f"{visible}(document.getElementById('arm-table'))")
        assert page.evaluate("[...document.querySelectorAll('#arm-table tbody tr td:first-child')]"
                             ".map(td => td.textContent.trim())") == ["plain", "off", "scaffold", "frozen", "learning"]
        assert page.evaluate("(img => img.complete && img.naturalWidth > 300)(document.getElementById('arm-chart'))")
        assert page.evaluate(f"{visible}(document.getElementById('arm-chart'))")

        href = page.evaluate("document.querySelector('a.trace-link').getAttribute('href')")
        assert href.startswith("#trace-")
        assert not page.evaluate(f"{visible}(document.querySelector('{href}'))")  # traces stay shut until asked
        page.evaluate("document.querySelector('a.trace-link').click()")
        assert page.evaluate("location.hash") == href
        assert page.evaluate(f"{visible}(document.querySelector('{href}'))")
        shown = page.evaluate(f"document.querySelector('{href}').innerText")
        assert "frozen trace of 1-1-2-9" in shown and "procedure #2 run" in shown and "answer accepted" in shown

        texts = page.evaluate("[...document.querySelectorAll('.problem-text')].map(e => e.textContent)")
        assert HOSTILE in texts  # shown as the text it is
        assert page.evaluate("document.body.textContent.includes('<script>window.__pwned = 3</script>')")  # as text
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('script, img[src=\"x\"]').length") == 0
        assert page.evaluate("document.title") == "mnemos evaluation g24-r2"
        assert page.errors() == []


def test_everything_untrusted_is_escaped(tmp_path):
    report, episodes = synthetic_evaluation(6, text="<script>alert(1)</script>",
                                            plain_text="</pre><script>x()</script>")
    report = report.model_copy(update={"name": "<b>e</b>", "model": "<script>m</script>"})
    db = tmp_path / "memory.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE procedures (id INTEGER, signature TEXT, code TEXT, status TEXT, source TEXT)")
        conn.execute("INSERT INTO procedures VALUES (7, '<i>solve</i>', '<script>evil()</script>', 'active', "
                     "'<u>p1</u>')")
    html = render_html(build_page(report, episodes, {"frozen": db}))
    assert "<script" not in html and "<b>e</b>" not in html and "<i>" not in html and "<u>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;script&gt;evil()&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_a_thousand_problems_render_small():
    """Size and content only: how fast is benchmarks/html_report.py's (docs/results/html_report.json)."""
    report, episodes = synthetic_evaluation(1000, text="Numbers: 1 2 3 4 " * 20, plain_text="reasoning " * 2000)
    page = build_page(report, episodes, {})
    html = render_html(page)
    assert len(html.encode()) < 3_000_000
    assert [len(c.problems) for c in page.changes] == [333, 167] and [c.traced for c in page.changes] == [150, 150]
    assert len(page.traces) == 600 and all(len(t.items[0].text) <= 1600 for t in page.traces)
    assert "first 150 of these 333 problems" in html and "Trace cut to keep the page small" in html


def test_a_trace_reads_in_the_order_it_ran():
    trace = {
        "path": ["procedures", "select_concepts", "prime", "think", "recall", "think", "finalize", "verify", "learn"],
        "segments": [{"index": 0, "text": "first"}, {"index": 1, "text": "second"},
                     {"index": 2, "text": "forced", "tag": "answer", "forced": True}],
        "tool_calls": [{"node": "procedures", "kind": "apply_procedure", "ids": [3], "ok": False},
                       {"node": "retrieve", "kind": "subroutines", "input": "q"},
                       {"node": "recall", "kind": "search", "input": "where?", "output": "there"},
                       {"node": "verify", "kind": "verify", "input": "42", "ok": True}],
        "evidence": [{"query": "question", "text": "primed passage", "source": "context", "start": 0},
                     {"query": "where?", "text": "recalled passage", "source": "context", "start": 9}],
        "attempts": [{"index": 0, "answer": "42", "end_reason": "answer", "verdict": {"ok": True, "feedback": ""}}],
    }
    kinds = [(i.kind, i.text.split("\n")[0]) for i in timeline(trace)]
    assert kinds == [("procedure", ""), ("tool", "q"), ("evidence", "primed passage"),
                     ("segment", "first"), ("tool", "where?"), ("evidence", "recalled passage"),
                     ("segment", "second"), ("segment", "forced"), ("tool", "42"), ("verdict", "answer: '42'")]
    assert timeline({"arm": "plain", "text": "alone", "finish_reason": "length"})[0].kind == "output"
    failed = timeline({"end_reason": "error", "error": "RuntimeError: boom", "traceback": "Traceback ..."})
    assert failed[0].title == "error: RuntimeError: boom" and failed[0].ok is False


def test_long_traces_are_cut_and_say_so():
    items = timeline({"path": ["think", "think", "think"],
                      "segments": [{"index": i, "text": "y" * 5000} for i in range(3)]})
    kept, cut, dropped = cut_items(items, total=3000, each=2000)
    assert len(kept) == 2 and dropped == 1 and cut > 10_000
    assert "characters cut" in kept[0].text and len(kept[0].text) < 2100
    view = trace_view(synthetic_episode("r", "p", 0.0, {"path": ["think"], "segments": [{"text": "z" * 9000}]}),
                      "off", "t", total=1000, each=500)
    assert view.cut_chars > 8000 and view.anchor == "t"


def test_memory_credits_the_procedure_whose_answer_was_accepted():
    solved = synthetic_episode("r", "a", 1.0, {"procedures_offered": [1, 2], "procedures_used": [1, 2], "tool_calls": [
        {"kind": "apply_procedure", "ids": [1], "ok": False}, {"kind": "apply_procedure", "ids": [2], "ok": True}]})
    failed = synthetic_episode("r", "b", 0.0, frozen_trace(False, proc=1))
    counts = usage([solved, failed], "procedures")
    assert (counts[1].offered, counts[1].used, counts[1].solved) == (2, 2, 0)
    assert (counts[2].offered, counts[2].used, counts[2].solved) == (1, 1, 1)
    concept = synthetic_episode("r", "c", 1.0, {})
    concept.concepts_offered, concept.concepts_used = [5, 6], [6]
    assert usage([concept], "concepts")[6].solved == 1 and usage([concept], "concepts")[5].solved == 0


def test_memory_entries_sort_by_what_they_paid_and_show_status_changes(tmp_path):
    dbs = {}
    for arm, status in (("frozen", "active"), ("learning", "demoted")):
        dbs[arm] = tmp_path / f"{arm}.db"
        with sqlite3.connect(dbs[arm]) as conn:
            conn.execute("CREATE TABLE procedures (id INTEGER, signature TEXT, code TEXT, status TEXT, checked INTEGER,"
                         " passed INTEGER)")
            conn.executemany("INSERT INTO procedures VALUES (?, 'solve()', 'pass', ?, 24, 12)",
                             [(1, status), (2, "active")])
    eps = {"frozen": [synthetic_episode("r", "a", 1.0, frozen_trace(True, proc=2))], "learning": []}
    entries = memory_entries(dbs, eps, snapshot=dbs["frozen"])
    assert [e.id for e in entries] == [2, 1]
    assert entries[0].arms["frozen"].solved == 1 and entries[0].cross_check == "12/24 (50%)"
    assert entries[1].status == "active" and entries[1].status_after == {"learning": "demoted"}
    assert entries[1].origin == "snapshot"


def test_groups_get_a_table_and_a_chart():
    report, episodes = synthetic_evaluation(4)
    html = render_html(build_page(report, episodes, {}, limits=Limits(traced=1)))
    assert "by family" in html and 'class="chart group-chart"' in html and "+50.0" in html


@pytest.mark.usefixtures("fake_engine")
def test_an_evaluation_keeps_its_machine_and_its_page_shows_what_memory_did(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "eval", "math", "--small", "--no-progress", "--name", "t", "--resamples", "200",
                 "--arms", "plain,frozen"]) == 0
    assert [m.cpu for m in recorded_machines(home / "runs" / "t")] == [this_machine().cpu]
    capsys.readouterr()
    assert main(["--home", str(home), "report", "t", "--html"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == home / "runs" / "t" / "report.html"
    html = path.read_text()
    assert "how to total the parts" in html and "frozen solved, plain did not: 2" in html
    assert "totals of parts (routine)" not in html  # math has no held problems to try a concept on: none stored
    assert "predates" not in html


def test_machines_are_recorded_once_each(tmp_path):
    here = this_machine(cpuinfo="model name\t: Test CPU 9000\n")
    assert here.cpu == "Test CPU 9000"
    record_machine(tmp_path, here)
    record_machine(tmp_path, here)
    record_machine(tmp_path, Machine(cpu="Other", cores=2))
    assert [m.cpu for m in recorded_machines(tmp_path)] == ["Test CPU 9000", "Other"]


def test_cli_help_and_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert "--html" in out and "--open" in out and "self-contained HTML page" in out
    assert main(["--home", str(tmp_path), "report", "a", "b", "--html"]) == 1
    assert "one evaluation" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "report", "nothing", "--html"]) == 1
    assert "no finished evaluation named 'nothing'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        write_html(Settings(home=tmp_path), "nothing")
