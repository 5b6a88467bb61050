"""Per-arm results of an evaluation: numbers from episodes, a table, JSON files and a chart.

Everything is computed from the episodes in the database (the same source
``mnemos report`` uses), paired by problem id, so a resumed or partly rerun
evaluation reports exactly what is recorded.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agent.evaluation.stats import mcnemar_exact, paired_bootstrap, wilson_interval
from memory.kinds import KINDS
from memory.schemas import Episode
from tools.domains.split import SplitRecord


class Usage(BaseModel):
    """How often something was used: total count, and the share of problems that used it at least once."""

    count: int = 0
    problems: float = 0.0


class ArmResult(BaseModel):
    arm: str
    run_id: str
    n: int = Field(description="Problems with a finished episode.")
    solved: int
    errors: int
    accuracy: float = Field(description="Mean score (fraction solved; ARC tasks with several tests count partially).")
    ci95: tuple[float, float] = Field(description="Wilson 95% interval of the accuracy.")
    paired_n: int | None = Field(None, description="Problems finished by both this arm and plain.")
    delta_vs_plain: float | None = Field(None, description="Mean paired score difference, this arm minus plain.")
    delta_ci95: tuple[float, float] | None = Field(None, description="Paired bootstrap 95% interval of the difference.")
    mcnemar_p: float | None = Field(None, description="Exact McNemar p (solved vs not) against plain.")
    only_this_solved: int | None = None
    only_plain_solved: int | None = None
    tokens_per_problem: float = Field(description="Prompt plus generated tokens per problem.")
    generated_tokens_per_problem: float
    seconds_per_problem: float
    wall_seconds: float | None = Field(None, description="Wall time of the arm's batch run, every invocation "
                                       "together (problems run concurrently, so less than their seconds' sum).")
    tags: dict[str, Usage] = Field(default_factory=dict, description="Tags the model wrote (controller arms).")
    memory: dict[str, Usage] = Field(default_factory=dict, description="Memory offered/used and evidence recalled.")
    memory_written: dict[str, int] | None = Field(None, description="Rows the arm added to each memory table.")
    memory_unchanged: bool | None = Field(None, description="The arm's store still equals the snapshot.")
    delta_vs_scaffold: float | None = Field(None, description="Mean paired score difference to the scaffold arm "
                                            "(the same steps on an empty memory): what the memory itself did.")
    delta_vs_scaffold_ci95: tuple[float, float] | None = None


class EvalReport(BaseModel):
    name: str
    kind: str
    model: str
    n: int = Field(description="Dev problems.")
    arms: dict[str, ArmResult]
    split: SplitRecord
    snapshot: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    bootstrap: dict[str, int] = Field(default_factory=dict)
    scores: dict[str, dict[str, float]] = Field(default_factory=dict, description="Arm -> problem id -> score.")
    groups: dict[str, dict[str, dict[str, float]]] = Field(
        default_factory=dict, description="Meta key -> value -> arm -> accuracy (and 'n'), for the family's "
        "report groups such as hop count and context length.")
    tokens_per_solved: dict[str, float | None] = Field(
        default_factory=dict, description="Arm -> generated tokens over all its problems per problem solved.")
    token_use: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Arm -> prompt tokens sent, those the engine's prefix cache served "
        "(cached) and those it computed, and generated tokens per item.")
    hit_at_k: float | None = Field(None, description="Mixed stores: among dev problems whose family has an admitted "
                                   "procedure, the share where one of that family's procedures was among those run.")
    retrieval_k: int | None = None
    procedures: list[dict[str, Any]] = Field(default_factory=list, description="The snapshot's procedures with "
                                             "their family, cross-check and counts in the frozen arm.")
    procedure_solves: list[dict[str, Any]] = Field(default_factory=list, description="Dev problems the frozen arm "
                                                   "answered by a stored procedure: problem, score, procedure ids.")
    machines: list[dict[str, Any]] = Field(default_factory=list, description="Every machine that worked on the "
                                           "evaluation (runs/NAME/machine.json): what its seconds were measured on.")
    thirds: dict[str, list[float]] = Field(default_factory=dict, description="Arm -> accuracy on each third of the "
                                           "dev stream, in the order it was solved: the learning arm's curve.")
    carried: dict[str, str] = Field(default_factory=dict, description="Arm -> the evaluation of the same split and "
                                    "settings its episodes were copied from (--baselines-from), not solved here.")
    rescored: dict[str, list[str]] = Field(default_factory=dict, description="Arm -> dev problems whose stored answer "
                                           "the current scorer scores otherwise than when it was solved (domains "
                                           "scored by the answer alone); the report uses the current score.")
    family_checks: dict[str, str] = Field(default_factory=dict, description="Mixed stores: family -> 'gold-free' "
                                          "(a procedure's answer must pass the question's own check) or "
                                          "'cross-check' (only a procedure right on >= 0.9 of the >= 10 check "
                                          "problems it answered may answer).")


def tokens_per_solved(episodes: list[Episode]) -> float | None:
    """Generated tokens of the whole arm per problem it solved (None when it solved none)."""
    solved = sum(e.score >= 1.0 for e in episodes)
    return sum(e.generated_tokens for e in episodes) / solved if solved else None


def token_use(episodes: list[Episode]) -> dict[str, float]:
    """Prompt tokens sent and computed (sent minus prefix-cache hits), and generated tokens per item, of one arm."""
    sent = sum(e.prompt_tokens for e in episodes)
    cached = sum(int(e.trace.get("cached_prompt_tokens") or 0) for e in episodes)
    n = len(episodes) or 1
    return {"prompt_sent": sent, "prompt_cached": cached, "prompt_computed": sent - cached,
            "generated_per_item": round(sum(e.generated_tokens for e in episodes) / n, 1)}


def hit_at_k(episodes: list[Episode], family_of: dict[str, str], procedure_family: dict[int, str]) -> float | None:
    """Among problems whose family (``family_of``: problem id -> label) has a stored procedure, the share whose
    trace ran one of that family's procedures (``procedure_family``: procedure id -> label); None if none qualify."""
    admitted = set(procedure_family.values())
    eligible = [e for e in episodes if family_of.get(e.problem_id) in admitted]
    if not eligible:
        return None
    hits = sum(any(procedure_family.get(int(i)) == family_of[e.problem_id]
                   for i in e.trace.get("procedures_offered") or []) for e in eligible)
    return hits / len(eligible)


def _walk_segments(trace: dict[str, Any]) -> list[dict[str, Any]]:
    segs = list(trace.get("segments") or [])
    for branch in trace.get("branches") or []:
        segs += _walk_segments(branch)
    return segs


def tag_usage(episodes: list[Episode]) -> dict[str, Usage]:
    """Tags closed by the model's segments (diversity branches included), per arm."""
    calls: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    for e in episodes:
        tags = [s.get("tag") for s in _walk_segments(e.trace) if s.get("tag")]
        calls.update(tags)
        problems.update(set(tags))
    n = len(episodes) or 1
    return {t: Usage(count=calls[t], problems=problems[t] / n) for t in sorted(calls)}


def memory_usage(episodes: list[Episode]) -> dict[str, Usage]:
    """Items of each registered memory kind offered/used, and evidence passages recalled.

    A kind's ids are episode columns (``concepts_offered``, ...) where the schema has them, else trace fields.
    """
    n = len(episodes) or 1
    out: dict[str, Usage] = {}
    for key in (f"{kind.kind}_{role}" for kind in KINDS for role in ("offered", "used")):
        lists = [getattr(e, key) if key in Episode.model_fields else e.trace.get(key) or [] for e in episodes]
        out[key] = Usage(count=sum(len(x) for x in lists), problems=sum(bool(x) for x in lists) / n)
    ev = [len(e.trace.get("evidence") or []) for e in episodes]
    out["evidence"] = Usage(count=sum(ev), problems=sum(bool(x) for x in ev) / n)
    return out


def arm_result(arm: str, run_id: str, episodes: list[Episode], plain: list[Episode] | None, *,
               resamples: int, seed: int) -> ArmResult:
    """One arm's row; ``plain`` (that arm's episodes) adds the paired comparison."""
    if not episodes:
        raise ValueError(f"arm {arm!r} (run {run_id}) has no finished problems to report")
    n = len(episodes)
    total = sum(e.score for e in episodes)
    row = ArmResult(
        arm=arm, run_id=run_id, n=n, solved=sum(e.score >= 1.0 for e in episodes),
        errors=sum(e.verdict == "error" for e in episodes), accuracy=total / n, ci95=wilson_interval(total, n),
        tokens_per_problem=sum(e.prompt_tokens + e.generated_tokens for e in episodes) / n,
        generated_tokens_per_problem=sum(e.generated_tokens for e in episodes) / n,
        seconds_per_problem=sum(e.seconds for e in episodes) / n,
        tags=tag_usage(episodes), memory=memory_usage(episodes),
    )
    if plain:
        mine = {e.problem_id: e.score for e in episodes}
        base = {e.problem_id: e.score for e in plain}
        ids = sorted(mine.keys() & base.keys())
        if ids:
            a, b = [mine[i] for i in ids], [base[i] for i in ids]
            delta, ci = paired_bootstrap(a, b, resamples=resamples, seed=seed)
            only_a, only_b, p = mcnemar_exact([x >= 1.0 for x in a], [y >= 1.0 for y in b])
            row = row.model_copy(update={"paired_n": len(ids), "delta_vs_plain": delta, "delta_ci95": ci,
                                         "mcnemar_p": p, "only_this_solved": only_a, "only_plain_solved": only_b})
    return row


def versus_scaffold(row: ArmResult, episodes: list[Episode], scaffold: list[Episode], *, resamples: int,
                    seed: int) -> ArmResult:
    """``row`` with its paired difference to the scaffold arm on the problems both finished."""
    mine = {e.problem_id: e.score for e in episodes}
    base = {e.problem_id: e.score for e in scaffold}
    ids = sorted(mine.keys() & base.keys())
    if not ids:
        return row
    delta, ci = paired_bootstrap([mine[i] for i in ids], [base[i] for i in ids], resamples=resamples, seed=seed)
    return row.model_copy(update={"delta_vs_scaffold": delta, "delta_vs_scaffold_ci95": ci})


_CHECK = re.compile(r"check (\d+)/(\d+)")


def _passed_every_check(call: dict[str, Any]) -> bool:
    """A written program passed all its check problems (traces from before ``figures`` say so only in text)."""
    if figures := call.get("figures"):
        return "check_n" in figures and figures["check_passed"] == figures["check_n"]
    return bool((m := _CHECK.search(call.get("output", ""))) and m.group(1) == m.group(2))


def _origin(call: dict[str, Any]) -> str:
    return str(call.get("input", "")).split("\n", 1)[0]


def procedure_training(episodes: list[Episode]) -> dict[str, Any] | None:
    """What learning procedures cost and found over a training stream (episodes in the order they were written).

    ``general_per_100`` counts programs that passed every check problem, per 100 programs asked for.
    ``tokens_by_quarter`` is generated tokens per problem in each quarter of the stream: it must fall as
    memory grows, since a stored procedure is tried before any program is asked for.
    """
    ordered = sorted(episodes, key=lambda e: e.id or 0)
    samples = [c for e in ordered for c in e.trace.get("tool_calls") or [] if c.get("kind") == "procedure_sample"]
    if not samples:
        return None
    general = sum(1 for c in samples if _passed_every_check(c))
    quarters = [ordered[i * len(ordered) // 4:(i + 1) * len(ordered) // 4] for i in range(4)]
    by_end = Counter(e.trace.get("end_reason", "") for e in ordered)
    return {
        "programs": len(samples),
        "solved_their_problem": sum(bool(c.get("ok")) for c in samples),
        "general": general,
        "general_per_100": 100 * general / len(samples),
        "greedy_solved": sum(bool(c.get("ok")) for c in samples if _origin(c) == "greedy"),
        "greedy_asked": sum(_origin(c) == "greedy" for c in samples),
        "tokens_by_quarter": [sum(e.generated_tokens for e in q) / len(q) if q else 0.0 for q in quarters],
        "end_reasons": dict(by_end),
    }


_TRIAL = re.compile(r"with (?P<trial_with>\d+)/(?P<trial_n>\d+), without (?P<trial_without>\d+)/\d+")


def _trial_figures(call: dict[str, Any]) -> dict[str, int] | None:
    """A trial's figures (traces from before ``figures`` hold them only in ``TrialResult.summary``'s text)."""
    if figures := call.get("figures"):
        return figures
    m = _TRIAL.search(call.get("output", ""))
    return {k: int(v) for k, v in m.groupdict().items()} if m else None


def memory_trials(episodes: list[Episode], kind: str = "concept_trial") -> list[dict[str, Any]]:
    """Every A/B trial of ``kind`` (``concept_trial``, ``subroutine_trial``) in these episodes, in stream order: the
    entry (concept name or sub-question), its figures, and whether it was kept."""
    out = []
    for e in sorted(episodes, key=lambda e: e.id or 0):
        for c in e.trace.get("tool_calls") or []:
            if c.get("kind") == kind and (f := _trial_figures(c)):
                out.append({"problem_id": e.problem_id, "concept": c.get("input", ""), "with": f["trial_with"],
                            "without": f["trial_without"], "n": f["trial_n"], "admitted": bool(c.get("ok"))})
    return out


def group_accuracy(keys: tuple[str, ...], problems: list[Any], scores: dict[str, dict[str, float]]
                   ) -> dict[str, dict[str, dict[str, float]]]:
    """Accuracy per arm within each value of each ``problem.meta`` key (problems an arm has not finished are left out)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in keys:
        values = sorted({p.meta[key] for p in problems if key in p.meta}, key=lambda v: (str(type(v)), v))
        for value in values:
            ids = [p.id for p in problems if p.meta.get(key) == value]
            cell: dict[str, float] = {"n": float(len(ids))}
            for arm, by_id in scores.items():
                done = [by_id[i] for i in ids if i in by_id]
                if done:
                    cell[arm] = sum(done) / len(done)
            out.setdefault(key, {})[str(value)] = cell
    return out


def stream_thirds(problems: list[Any], by_id: dict[str, float]) -> list[float]:
    """Accuracy on the first, middle and last third of ``problems`` (stream order), over those scored."""
    n = len(problems)
    out = []
    for i in range(3):
        done = [by_id[p.id] for p in problems[i * n // 3:(i + 1) * n // 3] if p.id in by_id]
        out.append(sum(done) / len(done) if done else 0.0)
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def format_table(report: EvalReport) -> str:
    """The arms side by side, then what each used (tags, memory)."""
    header = ["arm", "n", "solved", "acc %", "95% CI", "Δ pts", "Δ 95% CI", "McNemar p", "tok/problem",
              "s/problem"]
    rows = []
    for r in report.arms.values():
        d = r.delta_vs_plain
        rows.append([
            r.arm, str(r.n), str(r.solved), _pct(r.accuracy), f"{_pct(r.ci95[0])}-{_pct(r.ci95[1])}",
            "-" if d is None else f"{100 * d:+.1f}",
            "-" if r.delta_ci95 is None else f"{100 * r.delta_ci95[0]:+.1f}..{100 * r.delta_ci95[1]:+.1f}",
            "-" if r.mcnemar_p is None else f"{r.mcnemar_p:.3g}",
            f"{r.tokens_per_problem:.0f}", f"{r.seconds_per_problem:.1f}",
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    lines = [f"{report.name}: {report.kind}, {report.n} dev problems, model {report.model}",
             line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    for r in report.arms.values():
        used = [f"{t} {u.count} ({_pct(u.problems)}% of problems)" for t, u in r.tags.items()]
        mem = [f"{k} {u.count} ({_pct(u.problems)}%)" for k, u in r.memory.items() if u.count]
        extra = []
        if r.memory_written is not None:
            extra.append("wrote " + (", ".join(f"{k} +{v}" for k, v in r.memory_written.items() if v) or "nothing"))
        if r.memory_unchanged is not None:
            extra.append("memory unchanged" if r.memory_unchanged else "MEMORY CHANGED during a read-only arm")
        if used or mem or extra:
            lines.append(f"  {r.arm}: " + "; ".join(filter(None, [", ".join(used) and "tags: " + ", ".join(used),
                                                                     ", ".join(mem) and "memory: " + ", ".join(mem),
                                                                     *extra])))
    for key, cells in report.groups.items():
        lines.append(f"  by {key}: " + "; ".join(
            f"{value} (n={cell['n']:.0f}) " + " ".join(f"{a} {_pct(v)}" for a, v in cell.items() if a != "n")
            for value, cell in cells.items()))
    for arm, ids in report.rescored.items():
        lines.append(f"  {arm}: {len(ids)} stored answer(s) scored otherwise by the current scorer: {', '.join(ids)}")
    return "\n".join(lines)


def published(report: EvalReport) -> dict[str, Any]:
    """The public summary: model, n and per-arm figures, without per-problem scores or the full id lists."""
    split = report.split
    return {
        "name": report.name,
        "kind": report.kind,
        "model": report.model,
        "n": report.n,
        "arms": {a: r.model_dump(mode="json", exclude={"run_id"}) for a, r in report.arms.items()},
        "split": {"method": split.method, "sources": split.sources, "source_sha256": split.source_sha256,
                  "seed": split.seed, "train_size": len(split.train_ids), "dev_size": len(split.dev_ids),
                  "fingerprint": split.fingerprint()},
        "snapshot": report.snapshot,
        "train": report.train,
        "settings": report.settings,
        "bootstrap": report.bootstrap,
        **({"groups": report.groups} if report.groups else {}),
        "tokens_per_solved": report.tokens_per_solved,
        "token_use": report.token_use,
        **({"thirds": report.thirds} if report.thirds else {}),
        **({"learning_thirds": report.thirds["learning"]} if "learning" in report.thirds else {}),
        **({"machines": report.machines} if report.machines else {}),
        **({"carried": report.carried} if report.carried else {}),
        **({"rescored": report.rescored} if report.rescored else {}),
        **({f"hit_at_{report.retrieval_k}": report.hit_at_k, "family_checks": report.family_checks}
           if report.retrieval_k is not None else {}),
        **({"procedures": report.procedures, "procedure_solves": report.procedure_solves}
           if report.procedures else {}),
    }


def write_json(data: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _yerr(values: list[float], intervals: list[tuple[float, float]]) -> list[list[float]]:
    """Error-bar lengths below and above; clipped at 0 because rounding can put a bound a hair past its value."""
    return [[max(0.0, v - lo) for v, (lo, _) in zip(values, intervals, strict=True)],
            [max(0.0, hi - v) for v, (_, hi) in zip(values, intervals, strict=True)]]


def group_panel(ax: Any, key: str, groups: dict[str, dict[str, float]], arms: list[str]) -> None:
    """Accuracy of every arm within each value of one report group (e.g. per family), bars side by side."""
    labels = list(groups)
    width = 0.8 / max(1, len(arms))
    for i, arm in enumerate(arms):
        ax.bar([x + i * width for x in range(len(labels))], [groups[g].get(arm, 0.0) for g in labels], width,
               label=arm)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))],
                  [f"{g} ({int(groups[g].get('n', 0))})" for g in labels], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"accuracy per {key}")
    ax.legend(fontsize=8, ncol=len(arms))


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend: reports are written on machines without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart_figure(report: EvalReport, *, with_groups: bool = True) -> Any:
    """Accuracy per arm with its Wilson interval, and the paired difference to plain with its bootstrap interval;
    below them the first report group, unless ``with_groups`` is off (the HTML page charts groups on their own)."""
    plt = pyplot()
    arms = list(report.arms.values())
    names = [r.arm for r in arms]
    acc = [r.accuracy for r in arms]
    err = _yerr(acc, [r.ci95 for r in arms])
    key = next(iter(report.groups), None) if with_groups else None
    groups = report.groups.get(key, {}) if key else {}
    wide = len(groups) > 1
    fig = plt.figure(figsize=(max(7, 1.6 * len(arms) * 2 + 2, 0.9 * len(groups) if wide else 0), 8 if wide else 4))
    grid = fig.add_gridspec(2 if wide else 1, 2)
    ax_acc, ax_d = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    if wide:
        group_panel(fig.add_subplot(grid[1, :]), key or "", groups, names)
    ax_acc.bar(names, acc, yerr=err, capsize=6, color="tab:blue")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_ylabel("accuracy (95% Wilson CI)")
    ax_acc.set_title(f"{report.kind}: {report.n} dev problems")
    compared = [r for r in arms if r.delta_vs_plain is not None and r.arm != "plain"]
    if compared:
        d = [r.delta_vs_plain or 0.0 for r in compared]
        d_err = _yerr(d, [r.delta_ci95 or (x, x) for x, r in zip(d, compared, strict=True)])
        colors = ["tab:green" if x >= 0 else "tab:red" for x in d]
        ax_d.bar([r.arm for r in compared], d, yerr=d_err, capsize=6, color=colors)
        ax_d.axhline(0, color="black", linewidth=0.8)
        ax_d.set_ylabel("accuracy minus plain (paired bootstrap 95% CI)")
        ax_d.set_title("difference to the model alone")
    else:
        ax_d.axis("off")
        ax_d.text(0.5, 0.5, "no paired comparison\n(plain arm not run)", ha="center", va="center")
    fig.suptitle(f"{report.name} ({report.model})", fontsize=9)
    fig.tight_layout()
    return fig


def write_chart(report: EvalReport, path: Path) -> Path:
    """The chart of :func:`chart_figure` as a PNG file."""
    fig = chart_figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path
