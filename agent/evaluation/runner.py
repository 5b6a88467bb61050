"""Run an evaluation: learn on train, snapshot the memory, run every arm on dev, compare.

Each arm (and the training pass) is an ordinary batch run with its own run id
in the main database, so rerunning the same evaluation resumes every part of
it: finished problems are skipped, a finished training pass is not repeated
(its snapshot exists), and arms with nothing left to do start no engine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agent.config import Settings
from agent.evaluation import arms as arms_mod
from agent.evaluation.arms import (
    ARMS,
    MEMORY_ARMS,
    OWN_STORE_ARMS,
    SETUP_FIELDS,
    SNAPSHOT_ARMS,
    Arm,
    run_id,
)
from agent.evaluation.carry import (
    carried_arms,
    carried_wall,
    carry_arms,
    reported_walls,
)
from agent.evaluation.machine import record_machine, recorded_machines
from agent.evaluation.report import (
    EvalReport,
    arm_result,
    format_table,
    group_accuracy,
    hit_at_k,
    memory_trials,
    procedure_training,
    published,
    stream_thirds,
    token_use,
    tokens_per_solved,
    versus_scaffold,
    write_chart,
    write_json,
)
from agent.evaluation.snapshot import (
    DB_FILE,
    SnapshotManifest,
    arm_memory,
    create_snapshot,
    load_snapshot,
    memory_content,
    snapshot_exists,
    snapshot_root,
    stored_procedures,
    working_copy,
)
from agent.llm import TextGenerator
from memory.schemas import Episode
from tools.domains import VerifyMode, get_domain
from tools.domains.split import Split, SplitRecord
from tools.problem import Problem

SPLIT_FILE = "split.json"
SETUP_FILE = "setup.json"
RESULT_FILE = "eval.json"
CHART_FILE = "eval.png"


class EvalOptions(BaseModel):
    name: str = Field(min_length=1)
    arms: list[Arm]
    concurrency: int | None = Field(None, gt=0, description="Problems in flight; None = as many as the KV cache holds.")
    train_concurrency: int | None = Field(None, gt=0, description="Problems in flight while learning; 1 makes each "
                                          "problem see what the previous ones stored. None = concurrency.")
    progress: bool = True
    snapshot: str | None = Field(None, description="Snapshot to create after training, or to use with skip_train.")
    skip_train: bool = False
    train_from: str | None = Field(None, description="Snapshot training starts from instead of an empty store, so a "
                                   "memory learned once grows with more training problems (more of a weak family, "
                                   "or new families) without learning again what it holds.")
    train_verify: VerifyMode = "gold"
    train_reason: bool = Field(False, description="Training problems no procedure answers are also solved by "
                               "reasoning, so the learn node runs: concepts (after their A/B trial) and subroutines.")
    dev_verify: VerifyMode = Field("domain", description="Checker for controller arms on dev: gold-free only.")
    resamples: int = Field(10_000, gt=0)
    seed: int = 0
    publish: str | None = None
    publish_dir: Path = Path("docs/results")
    baselines_from: str | None = Field(None, description="Evaluation of the same split (or one whose dev problems "
                                       "include these, where ids are global) whose plain, off and scaffold episodes "
                                       "are copied rather than solved again (see agent.evaluation.carry).")


class EvalOutcome(BaseModel):
    report: EvalReport | None = None
    interrupted: bool = False
    json_path: Path | None = None
    chart_path: Path | None = None
    published_path: Path | None = None


class _Lazy:
    """The engine and the embedder start only when some arm has work left (each costs seconds to a minute)."""

    def __init__(self, settings: Settings, llm: TextGenerator | None, encoder: Any | None, eval_dir: Path):
        self.settings = settings
        self.eval_dir = eval_dir
        self._recorded = False
        self._llm, self._own_llm = llm, llm is None
        self._encoder = encoder

    @property
    def llm(self) -> TextGenerator:
        """The engine; the machine it runs on is listed as one that worked on the evaluation (a rerun that only
        reports, or carries arms, adds none)."""
        if not self._recorded:
            record_machine(self.eval_dir)
            self._recorded = True
        if self._llm is None:
            from agent.engine import make_engine

            print(f"starting the engine ({self.settings.model})", file=sys.stderr)
            self._llm = make_engine(self.settings)
        return self._llm

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from retrieval.embedder import Embedder

            self._encoder = Embedder(self.settings.embedder)
        return self._encoder

    def close(self) -> None:
        if self._own_llm and self._llm is not None:
            self._llm.close()


def _check_setup(eval_dir: Path, record: SplitRecord, settings: Settings) -> None:
    """The first run records the split and the sampling setup; a rerun under the same name must match both."""
    path = eval_dir / SPLIT_FILE
    setup_path = eval_dir / SETUP_FILE
    setup = settings.model_dump(mode="json", include=set(SETUP_FIELDS))
    if path.is_file():
        old = SplitRecord.model_validate_json(path.read_text())
        if old.fingerprint() != record.fingerprint():
            if not _extends(old, record):
                raise ValueError(f"evaluation {eval_dir.name!r} was run on a different split ({path}); "
                                 "use the same data and split flags to resume, or another --name")
            if len(record.dev_ids) > len(old.dev_ids):
                path.write_text(record.model_dump_json(indent=2))
    if setup_path.is_file():
        old_setup = json.loads(setup_path.read_text())
        changed = sorted(k for k in SETUP_FIELDS if old_setup.get(k) != setup.get(k))
        if changed:
            shown = ", ".join(f"{k} {old_setup.get(k)!r} -> {setup.get(k)!r}" for k in changed)
            raise ValueError(f"evaluation {eval_dir.name!r} was run with other settings ({shown}); "
                             "its arms would not be comparable: use the same settings or another --name")
    eval_dir.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        path.write_text(record.model_dump_json(indent=2))
    if not setup_path.is_file():
        setup_path.write_text(json.dumps(setup, indent=2))


def _extends(old: SplitRecord, new: SplitRecord) -> bool:
    """The same split with a larger or smaller ``--limit``: training and the choice the same, one dev list a prefix
    of the other. A run can then grow (its arms solve only the new problems) or report on its first problems."""
    same = old.model_dump(exclude={"dev_ids"}) == new.model_dump(exclude={"dev_ids"})
    n = min(len(old.dev_ids), len(new.dev_ids))
    return same and old.dev_ids[:n] == new.dev_ids[:n]


def _pending(store: Any, rid: str, problems: list[Problem]) -> int:
    """Problems the batch runner would solve on resume: no episode yet, or an error (which it retries)."""
    return sum((e := store.find(rid, p.id)) is None or e.verdict == "error" for p in problems)


def _run_plain(problems: list[Problem], settings: Settings, rid: str, options: EvalOptions, lazy: _Lazy,
               episodes: Any) -> bool:
    """The model alone through the batch runner (one async request per problem, resumable); True if interrupted."""
    from agent.batch.concurrency import planned_concurrency
    from agent.batch.report import save_summary
    from agent.batch.runner import BatchConfig, run_batch

    llm = lazy.llm
    concurrency = options.concurrency or planned_concurrency(settings, llm).concurrency
    config = BatchConfig(run_id=rid, memory_mode="off", concurrency=concurrency, verify="off",
                         progress=options.progress)
    summary = run_batch([arms_mod.plain_problem(p) for p in problems], arms_mod.plain_solver(llm, settings), episodes,
                        config)
    save_summary(summary, settings.runs_dir)
    return summary.interrupted


def _run_controller(problems: list[Problem], settings: Settings, rid: str, memory: Any, verify: VerifyMode,
                    options: EvalOptions, lazy: _Lazy, concurrency: int | None = None) -> bool:
    from agent.batch.session import solve_set

    summary = solve_set(problems, settings, rid, concurrency=concurrency or options.concurrency,
                        progress=options.progress,
                        verify=verify, llm=lazy.llm, memory=memory)
    return summary.interrupted


def _train(split: Split, settings: Settings, name: str, eval_dir: Path, snap_name: str, options: EvalOptions,
           lazy: _Lazy, episodes: Any) -> SnapshotManifest | None:
    """Learn on the training part into the evaluation's own store, then snapshot it (None if interrupted)."""
    rid = run_id(name, "train")
    store_dir = eval_dir / "train-store"
    reason = ", reasoning where no procedure answers" if options.train_reason else ""
    print(f"train: {len(split.train)} problems, memory learning{reason}, verify {options.train_verify} -> run {rid}",
          file=sys.stderr)
    if options.train_from:
        working_copy(settings.home, options.train_from, store_dir)
        print(f"train: starting from snapshot {options.train_from}", file=sys.stderr)
    if _pending(episodes, rid, split.train):
        memory = arm_memory(store_dir, episodes, lazy.encoder, settings)
        try:
            train_settings = settings.model_copy(update={"memory_mode": "learning",
                                                          "fallback_solve": options.train_reason})
            interrupted = _run_controller(split.train, train_settings, rid, memory, options.train_verify, options,
                                          lazy, options.train_concurrency)
        finally:
            memory.close()
        if interrupted:
            return None
    source = {"eval": name, "train_run": rid, "train_problems": len(split.train), "model": settings.model,
              "verify": options.train_verify, **({"train_from": options.train_from} if options.train_from else {})}
    manifest = create_snapshot(store_dir, settings.home, snap_name, source)
    print(f"snapshot {snap_name}: {manifest.counts}", file=sys.stderr)
    return manifest


def _arm_episodes(store: Any, rid: str, problems: list[Problem]) -> list[Episode]:
    from agent.batch.report import run_episodes

    wanted = {p.id for p in problems}
    return [e for e in run_episodes(store, rid) if e.problem_id in wanted]


def run_eval(split: Split, settings: Settings, options: EvalOptions, *, llm: TextGenerator | None = None,
             encoder: Any | None = None) -> EvalOutcome:
    """Run (or resume) the evaluation ``options.name`` on ``split``; results go to ``<runs>/<name>/``."""
    from memory.db import Database
    from memory.episodes import EpisodeStore
    from memory.stores import MemoryStores

    if not split.dev:
        raise ValueError("the dev part has no problems")
    name = options.name
    eval_dir = settings.runs_dir / name
    _check_setup(eval_dir, split.record, settings)
    needs_memory = bool(SNAPSHOT_ARMS & set(options.arms))
    snap_name = options.snapshot or run_id(name, "train")
    if needs_memory and options.skip_train and not snapshot_exists(settings.home, snap_name):
        raise FileNotFoundError(f"--skip-train needs an existing snapshot; {snap_name!r} not found in "
                                f"{snapshot_root(settings.home)} (give one with --snapshot NAME)")
    if options.train_from and not snapshot_exists(settings.home, options.train_from):
        raise FileNotFoundError(f"--train-from: snapshot {options.train_from!r} not found in "
                                f"{snapshot_root(settings.home)}")
    if needs_memory and not split.train and not snapshot_exists(settings.home, snap_name):
        raise ValueError("the frozen arm needs training problems or an existing --snapshot")

    db = Database(settings.db_url)
    episodes = EpisodeStore(db)
    main = MemoryStores(db, {}, episodes)
    lazy = _Lazy(settings, llm, encoder, eval_dir)
    outcome = EvalOutcome()
    try:
        manifest: SnapshotManifest | None = None
        if needs_memory:
            if snapshot_exists(settings.home, snap_name):
                manifest = load_snapshot(settings.home, snap_name)
                made_by = ", ".join(f"{k} {v}" for k, v in manifest.source.items()) or "unknown source"
                print(f"using snapshot {snap_name} ({made_by}): {manifest.counts}", file=sys.stderr)
            else:
                manifest = _train(split, settings, name, eval_dir, snap_name, options, lazy, episodes)
                if manifest is None:
                    outcome.interrupted = True
                    return outcome
        extra: dict[str, dict[str, Any]] = {}
        if options.baselines_from:
            carried = carry_arms(options.baselines_from, list(options.arms), [p.id for p in split.dev], settings,
                                 name, episodes, split.record)
            if carried:
                print(f"carried from another evaluation: {carried}", file=sys.stderr)
        for chunk in _chunks(split.dev, options, settings, lazy, episodes):
            for arm in options.arms:
                rid = run_id(name, arm)
                todo = _pending(episodes, rid, chunk)
                where = f"{todo} of {len(chunk)}" + (f" (a group of {len(split.dev)})" if len(chunk) < len(split.dev)
                                                     else "")
                print(f"arm {arm}: run {rid}, {where} problems to solve", file=sys.stderr)
                if todo and _run_arm(arm, chunk, settings, rid, options, lazy, episodes, main, eval_dir, snap_name):
                    outcome.interrupted = True
                    return outcome
        for arm in options.arms:
            store_dir = eval_dir / f"{arm}-store"
            if arm in MEMORY_ARMS and (store_dir / DB_FILE).is_file():
                counts, digest = memory_content(store_dir / DB_FILE)
                if arm == "frozen" and manifest is not None:
                    extra[arm] = {"memory_unchanged": digest == manifest.content_sha256}
                elif arm == "learning":
                    extra[arm] = {"memory_written": {k: v for k, v in counts.items() if k != "mnemos_meta"}}
        report = _report(split, settings, options, episodes, manifest, extra)
    finally:
        lazy.close()
        main.close()
    outcome.report = report
    outcome.json_path = write_json(report.model_dump(mode="json"), eval_dir / RESULT_FILE)
    outcome.chart_path = write_chart(report, eval_dir / CHART_FILE)
    if options.publish:
        outcome.published_path = write_json(published(report), options.publish_dir / f"{options.publish}.json")
        write_chart(report, options.publish_dir / f"{options.publish}.png")
    return outcome


def _run_arm(arm: Arm, problems: list[Problem], settings: Settings, rid: str, options: EvalOptions, lazy: _Lazy,
             episodes: Any, main: Any, eval_dir: Path, snap_name: str) -> bool:
    """One arm on ``problems`` (resuming its run); True if interrupted."""
    if arm == "plain":
        return _run_plain(problems, settings, rid, options, lazy, episodes)
    arm_settings = settings.model_copy(update={"memory_mode": arms_mod.memory_mode(arm)})
    store_dir = eval_dir / f"{arm}-store"
    own = None
    if arm in SNAPSHOT_ARMS:
        working_copy(settings.home, snap_name, store_dir)
    if arm in OWN_STORE_ARMS:
        own = arm_memory(store_dir, episodes, lazy.encoder, settings)
    try:
        return _run_controller(problems, arm_settings, rid, own or main, options.dev_verify, options, lazy)
    finally:
        if own is not None:
            own.close()


#: Share of the engine's KV cache that one group's documents may fill (the rest holds the traces in flight).
DOCUMENT_KV_SHARE = 0.4


def _chunks(problems: list[Problem], options: EvalOptions, settings: Settings, lazy: _Lazy,
            episodes: Any) -> list[list[Problem]]:
    """Problems with documents in groups whose documents fit part of the engine's KV cache, every arm run on one
    group before the next: an item's later arms then find its document in vLLM's prefix cache instead of
    computing it again. Problems without documents, or one arm, or nothing left to do: one group."""
    pending = any(_pending(episodes, run_id(options.name, a), problems) for a in options.arms)
    if len(options.arms) < 2 or not pending or not any(p.context for p in problems):
        return [problems]
    from agent.batch.concurrency import kv_tokens

    capacity = kv_tokens(settings, lazy.llm)
    if capacity is None:
        return [problems]
    budget = capacity * DOCUMENT_KV_SHARE
    chunks: list[list[Problem]] = [[]]
    used = 0.0
    for p in problems:
        cost = lazy.llm.count_tokens(p.context)
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0.0
        chunks[-1].append(p)
        used += cost
    return chunks


def _wall(name: str, arm: str, settings: Settings) -> float | None:
    """Wall seconds of an arm's batch run over all its invocations, from its summary (None if never run here)."""
    from agent.batch.report import load_summary

    summary = load_summary(run_id(name, arm), settings.runs_dir)
    return (summary.wall_seconds_total or summary.wall_seconds) if summary is not None else None


def _rescore(by_arm: dict[str, list[Episode]], problems: list[Problem]) -> dict[str, list[str]]:
    """Score every stored answer again, in place, where the domain scores by the answer alone; the episodes stay as
    they were solved. Returns arm -> the problems whose score changed (a scorer fix since, e.g. LaTeX unwrapping)."""
    if not problems or not get_domain(problems[0].domain).answer_scored:
        return {}
    by_id = {p.id: p for p in problems}
    changed: dict[str, list[str]] = {}
    for arm, eps in by_arm.items():
        for i, e in enumerate(eps):
            problem = by_id.get(e.problem_id)
            if problem is None or e.answer is None:
                continue
            now = get_domain(problem.domain).score(problem, [e.answer])
            if now != e.score:
                eps[i] = e.model_copy(update={"score": now})
                changed.setdefault(arm, []).append(e.problem_id)
    return changed


def _report(split: Split, settings: Settings, options: EvalOptions, episodes: Any,
            manifest: SnapshotManifest | None, extra: dict[str, dict[str, Any]]) -> EvalReport:
    by_arm = {arm: _arm_episodes(episodes, run_id(options.name, arm), split.dev) for arm in ARMS
              if arm in options.arms}
    rescored = _rescore(by_arm, split.dev)
    earlier = reported_walls(settings.runs_dir / options.name)
    plain, scaffold = by_arm.get("plain"), by_arm.get("scaffold")
    rows = {}
    for arm, eps in by_arm.items():
        row = arm_result(arm, run_id(options.name, arm), eps, plain, resamples=options.resamples, seed=options.seed)
        if scaffold and arm in MEMORY_ARMS:
            row = versus_scaffold(row, eps, scaffold, resamples=options.resamples, seed=options.seed)
        wall = _wall(options.name, arm, settings)
        earlier_wall, earlier_n = earlier.get(arm, (None, 0))
        if wall is None and earlier_n == row.n:  # a --limit report is not timed by the whole arm
            wall = earlier_wall
        rows[arm] = row.model_copy(update={"wall_seconds": wall,
                                           **extra.get(arm, {})})
    carried = carried_arms(settings.runs_dir / options.name)
    for arm, source in carried.items():
        if arm in rows and rows[arm].wall_seconds is None:
            rows[arm] = rows[arm].model_copy(update={"wall_seconds": carried_wall(settings.runs_dir, source, arm,
                                                                                rows[arm].n)})
    train = None
    if manifest is not None:
        train_eps = _arm_episodes(episodes, run_id(options.name, "train"), split.train) if split.train else []
        train = {"run_id": run_id(options.name, "train"), "problems": len(train_eps),
                 "verified": sum(e.verdict == "correct" for e in train_eps), "verify": options.train_verify,
                 **({"reason": True} if options.train_reason else {}),
                 "wall_seconds": _wall(options.name, "train", settings)}
        if (learned := procedure_training(train_eps)) is not None:
            train["procedures"] = learned
        for kind in ("concept", "subroutine"):
            if trials := memory_trials(train_eps, f"{kind}_trial"):
                train[f"{kind}_trials"] = trials
    scores = {arm: {e.problem_id: e.score for e in eps} for arm, eps in by_arm.items()}
    mixed = _mixed_store(split, settings, options, by_arm.get("frozen") or [])
    keep = ("model", "max_tokens", "temperature", "top_p", "max_model_len", "budgets", "solve_mode", "prime_recall",
            "kv_policy", "kv_budget")
    return EvalReport(
        name=options.name, kind=split.record.kind, model=settings.model, n=len(split.dev), arms=rows,
        split=split.record, snapshot=manifest.model_dump(mode="json", exclude={"files"}) if manifest else None,
        train=train, settings=settings.model_dump(mode="json", include=set(keep)),
        bootstrap={"resamples": options.resamples, "seed": options.seed},
        scores=scores,
        groups=group_accuracy(get_domain(split.record.kind).report_groups, split.dev, scores),
        tokens_per_solved={arm: tokens_per_solved(eps) for arm, eps in by_arm.items()},
        token_use={arm: token_use(eps) for arm, eps in by_arm.items()},
        thirds={arm: stream_thirds(split.dev, scores[arm]) for arm in by_arm} if len(split.dev) >= 3 else {},
        machines=[m.model_dump(mode="json") for m in recorded_machines(settings.runs_dir / options.name)],
        carried={a: src for a, src in carried.items() if a in rows},
        rescored=rescored,
        **mixed,
    )


def _mixed_store(split: Split, settings: Settings, options: EvalOptions, frozen: list[Episode]) -> dict[str, Any]:
    """Where one store serves many families, or a family's answers are programs (ARC): each stored procedure with
    its family, cross-check and what it did in the frozen arm (run / answered), which dev problems a procedure's
    answer solved, and (many families) hit@k of retrieval."""
    domain = get_domain(split.record.kind)
    store = settings.runs_dir / options.name / "frozen-store" / DB_FILE
    if not (domain.stories or domain.program_answers) or not frozen or not store.is_file():
        return {}
    procs = [p for p in stored_procedures(store) if p["status"] == "active"]
    calls = [c for e in frozen for c in e.trace.get("tool_calls") or [] if c.get("kind") == "apply_procedure"]
    for p in procs:
        p["frozen_run"] = sum(p["id"] in (c.get("ids") or []) for c in calls)
        p["frozen_answered"] = sum(p["id"] in (c.get("ids") or []) and bool(c.get("ok")) for c in calls)
    solves = [{"problem": e.problem_id, "score": e.score,
               "procedures": sorted({i for c in e.trace.get("tool_calls") or []
                                     if c.get("kind") == "apply_procedure" and c.get("ok") for i in c.get("ids") or []})}
              for e in frozen]
    out: dict[str, Any] = {"procedures": procs, "procedure_solves": [s for s in solves if s["procedures"]]}
    if not domain.stories:
        return out
    family_of = {p.id: domain.procedure_family(p) for p in split.dev}
    checks = {}
    for p in split.dev:
        checks.setdefault(family_of[p.id], "gold-free" if domain.verifier(p) is not None else "cross-check")
    k = settings.budgets.procedure_top_k
    return {**out, "hit_at_k": hit_at_k(frozen, family_of, {p["id"]: p["domain"] for p in procs}), "retrieval_k": k,
            "family_checks": checks}


def print_outcome(outcome: EvalOutcome) -> None:
    if outcome.report is not None:
        print(format_table(outcome.report))
    for label, path in (("results", outcome.json_path), ("chart", outcome.chart_path),
                        ("published", outcome.published_path)):
        if path is not None:
            print(f"{label}: {path}", file=sys.stderr)
