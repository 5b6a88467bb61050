"""``mnemos report NAME --html``: one self-contained HTML page per evaluation, to look at rather than read.

The page answers what a user deciding whether memory helps on their problems asks
after ``mnemos eval``: the arms side by side (overall and per group), every memory
entry with what it paid, the problems where memory changed the outcome with their
traces, and what the run was. Everything comes from what the evaluation left: its
``eval.json``, the episodes in the database and the arms' stores, all read-only.

The page is one static file (charts inline as PNG, styles inline, no script, no
network), so it opens from disk, attaches to a mail and renders the same anywhere.
It is built with Jinja2 because its autoescaping is what makes such a page safe:
problem texts, model output and memory code are untrusted, and every one of them
goes through the template as data, never as markup; a Content-Security-Policy that
allows no script at all backs that up.
"""

from __future__ import annotations

import base64
import io
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from agent.evaluation.arms import MEMORY_ARMS
from agent.evaluation.machine import Machine, recorded_machines
from agent.evaluation.memory_view import MemoryEntry, memory_entries
from agent.evaluation.report import (
    EvalReport,
    chart_figure,
    group_panel,
    pyplot,
    tokens_per_solved,
)
from agent.evaluation.snapshot import DB_FILE, check_name, snapshot_root
from agent.evaluation.trace_view import TraceView, trace_view
from memory.schemas import Episode

if TYPE_CHECKING:
    from agent.config import Settings

RESULT_FILE = "eval.json"
HTML_FILE = "report.html"
TEMPLATE = "report.html.j2"


class Limits(BaseModel):
    """What keeps a page small enough to mail: a 1,000-problem evaluation stays around a megabyte or two."""

    trace_chars: int = Field(6000, gt=0, description="Characters of one trace's text; the rest is cut, and said so.")
    item_chars: int = Field(1500, gt=0, description="Characters of one segment, tool call or evidence passage.")
    traced: int = Field(150, ge=0, description="Changed problems per direction whose traces the page carries.")
    input_chars: int = Field(200, gt=0, description="Characters of a problem's text in the tables.")


class Changed(BaseModel):
    problem_id: str
    input: str
    scores: dict[str, float | None] = Field(description="Arm -> score on this problem (None: not finished).")
    answers: dict[str, str | None] = Field(description="Frozen's and plain's answers.")
    traces: dict[str, str] = Field(default_factory=dict, description="Arm -> anchor of its trace on the page.")


class ChangeSet(BaseModel):
    title: str
    memory_won: bool
    problems: list[Changed]
    traced: int = Field(description="How many of them carry their traces.")


class ReportPage(BaseModel):
    report: EvalReport
    generated_at: str
    mnemos_version: str
    machines: list[Machine]
    arm_chart: str = Field(description="Base64 PNG.")
    group_charts: dict[str, str] = Field(default_factory=dict, description="Group key -> base64 PNG.")
    tokens_per_solved: dict[str, float | None] = Field(description="Arm -> generated tokens per problem solved "
                                                       "(from the episodes where eval.json predates the figure).")
    wall_seconds: dict[str, float] = Field(default_factory=dict, description="Arm -> wall time of its batch run, "
                                           "where the evaluation recorded it.")
    memory_arms: list[str]
    memory: list[MemoryEntry]
    changes: list[ChangeSet]
    changes_missing: str | None = Field(None, description="Why there is no comparison (an arm not run).")
    traces: list[TraceView]
    limits: Limits
    settings_rows: list[tuple[str, str]]
    split_rows: list[tuple[str, str]]


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def group_chart(key: str, groups: dict[str, dict[str, float]], arms: list[str]) -> str:
    """Accuracy of each arm within each value of one group, as a base64 PNG."""
    fig = pyplot().figure(figsize=(max(7.0, 0.9 * len(groups) + 2), 3.6))
    group_panel(fig.add_subplot(1, 1, 1), key, groups, arms)
    fig.tight_layout()
    return _png(fig)


def _rows(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested dict as ``a.b`` -> value rows."""
    if isinstance(data, dict) and data:
        return [row for k, v in data.items() for row in _rows(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, "-" if data is None else str(data))]


def _split_rows(report: EvalReport) -> list[tuple[str, str]]:
    s = report.split
    rows = [("fingerprint", s.fingerprint()), ("kind", s.kind), ("method", s.method), ("seed", str(s.seed)),
            ("train problems", str(len(s.train_ids))), ("dev problems", str(len(s.dev_ids)))]
    rows += _rows(s.sources, "sources")
    if s.source_sha256:
        rows += _rows(s.source_sha256, "source sha256")
    if s.train_dropped:
        rows.append(("train dropped (in dev)", str(len(s.train_dropped))))
    return rows


def _solved(score: float | None) -> bool:
    return score is not None and score >= 1.0


def _changes(report: EvalReport, episodes: dict[str, list[Episode]], limits: Limits
             ) -> tuple[list[ChangeSet], list[TraceView], str | None]:
    """Problems frozen and plain disagree on (solved vs not), both ways, with the traces of the first ones."""
    missing = [a for a in ("frozen", "plain") if a not in episodes]
    if missing:
        return [], [], f"this evaluation has no {' or '.join(missing)} arm to compare"
    by_arm = {arm: {e.problem_id: e for e in eps} for arm, eps in episodes.items()}
    order = {pid: i for i, pid in enumerate(report.split.dev_ids)}
    both = sorted(by_arm["frozen"].keys() & by_arm["plain"].keys(), key=lambda p: (order.get(p, len(order)), p))
    sets, traces = [], []
    for won, title in ((True, "frozen solved, plain did not"), (False, "plain solved, frozen did not")):
        ids = [p for p in both if _solved(by_arm["frozen"][p].score) == won and _solved(by_arm["plain"][p].score) != won]
        problems = []
        for n, pid in enumerate(ids):
            frozen, plain = by_arm["frozen"][pid], by_arm["plain"][pid]
            anchors = {}
            if n < limits.traced:
                for arm, ep in (("frozen", frozen), ("plain", plain)):
                    anchors[arm] = f"trace-{arm}-{len(traces)}"
                    traces.append(trace_view(ep, arm, anchors[arm], total=limits.trace_chars, each=limits.item_chars))
            text = frozen.input if len(frozen.input) <= limits.input_chars else frozen.input[:limits.input_chars] + "…"
            problems.append(Changed(
                problem_id=pid, input=text, traces=anchors,
                scores={arm: (e.score if (e := got.get(pid)) else None) for arm, got in by_arm.items()},
                answers={"frozen": frozen.answer, "plain": plain.answer}))
        sets.append(ChangeSet(title=title, memory_won=won, problems=problems, traced=min(len(ids), limits.traced)))
    return sets, traces, None


def build_page(report: EvalReport, episodes: dict[str, list[Episode]], stores: dict[str, Path], *,
               snapshot: Path | None = None, machines: list[Machine] | None = None,
               limits: Limits | None = None) -> ReportPage:
    """The page's content from an evaluation's report, its arms' episodes (arm -> episodes on dev) and the memory
    arms' stores (arm -> memory.db)."""
    limits = limits or Limits()
    arms = list(report.arms)
    changes, traces, missing = _changes(report, episodes, limits)
    try:
        mnemos_version = version("mnemos")
    except PackageNotFoundError:
        mnemos_version = "unknown"
    return ReportPage(
        report=report, generated_at=time.strftime("%Y-%m-%d %H:%M %Z"), mnemos_version=mnemos_version,
        machines=machines or [], arm_chart=_png(chart_figure(report, with_groups=False)),
        tokens_per_solved={arm: report.tokens_per_solved[arm] if arm in report.tokens_per_solved
                           else tokens_per_solved(episodes.get(arm, [])) for arm in arms},
        wall_seconds={arm: wall for arm, row in report.arms.items()
                      if (wall := getattr(row, "wall_seconds", None)) is not None},
        group_charts={key: group_chart(key, groups, arms) for key, groups in report.groups.items()},
        memory_arms=list(stores), memory=memory_entries(stores, episodes, snapshot),
        changes=changes, changes_missing=missing, traces=traces, limits=limits,
        settings_rows=_rows(report.settings), split_rows=_split_rows(report),
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _pts(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f}"


def _interval(ci: tuple[float, float] | None, signed: bool = False) -> str:
    if ci is None:
        return ""
    fmt = _pts if signed else _pct
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def render_html(page: ReportPage) -> str:
    """The page as HTML; every value is escaped by the template (autoescape on, strict about missing names)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("agent.evaluation", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=_pct, pts=_pts, interval=_interval)
    return env.get_template(TEMPLATE).render(page=page, r=page.report)


def arm_episodes(settings: Settings, report: EvalReport) -> dict[str, list[Episode]]:
    """Each arm's latest episode per dev problem, from the database the evaluation wrote."""
    from agent.batch.report import run_episodes
    from memory.db import Database
    from memory.episodes import EpisodeStore

    dev = set(report.split.dev_ids)
    db = Database(settings.db_url)
    try:
        store = EpisodeStore(db)
        return {arm: [e for e in run_episodes(store, row.run_id) if e.problem_id in dev]
                for arm, row in report.arms.items()}
    finally:
        db.dispose()


def load_report(settings: Settings, name: str) -> EvalReport:
    path = settings.runs_dir / check_name(name) / RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no finished evaluation named {name!r}: {path} is missing (`mnemos eval ... --name "
                                f"{name}` writes it when every arm is done; `mnemos archive load` restores one)")
    return EvalReport.model_validate_json(path.read_text())


def page_inputs(settings: Settings, name: str) -> tuple[EvalReport, dict[str, Path], Path | None, list[Machine]]:
    """What a page of evaluation ``name`` is built from besides its episodes: the report, the memory arms' stores
    (frozen first), the snapshot's database if it is there, and the machines that ran it."""
    report = load_report(settings, name)
    eval_dir = settings.runs_dir / name
    stores = {arm: eval_dir / f"{arm}-store" / DB_FILE for arm in report.arms
              if arm in MEMORY_ARMS and (eval_dir / f"{arm}-store" / DB_FILE).is_file()}
    stores = dict(sorted(stores.items(), key=lambda kv: kv[0] != "frozen"))
    snap_name = (report.snapshot or {}).get("name")
    snap = snapshot_root(settings.home) / str(snap_name) / DB_FILE if snap_name else None
    return report, stores, snap if snap is not None and snap.is_file() else None, recorded_machines(eval_dir)


def write_html(settings: Settings, name: str, out: Path | None = None, limits: Limits | None = None) -> Path:
    """Render evaluation ``name`` to ``out`` (default ``runs/NAME/report.html``) and return the path."""
    report, stores, snap, machines = page_inputs(settings, name)
    page = build_page(report, arm_episodes(settings, report), stores, snapshot=snap, machines=machines, limits=limits)
    out = Path(out) if out is not None else settings.runs_dir / name / HTML_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.tmp")
    partial.write_text(render_html(page), encoding="utf-8")
    partial.replace(out)
    return out
