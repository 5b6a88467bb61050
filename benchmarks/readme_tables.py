"""Write the README's result tables from the figures in ``docs/results/*.json``.

Published numbers come from the scripts that measured them; this copies them into the README
between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` markers so no figure is ever
hand-copied. ``--check`` fails when the README is out of date (CI can run it).

    python benchmarks/readme_tables.py          # rewrite the tables in README.md
    python benchmarks/readme_tables.py --check  # exit 1 if any table differs from its JSON
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci(pair: list[float] | None, scale: float = 100, signed: bool = False) -> str:
    if not pair:
        return "–"
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"{fmt.format(scale * pair[0])} .. {fmt.format(scale * pair[1])}"


def ablation(d: dict) -> str:
    arms = d.get("arms", d)
    vs_scaffold = any(isinstance(a, dict) and a.get("delta_vs_scaffold") is not None for a in arms.values())
    head = "| arm | n | solved | accuracy (95% CI) | Δ vs plain, points (95% CI) | McNemar p |"
    rule = "|---|---:|---:|---|---|---:|"
    if vs_scaffold:
        head, rule = head + " Δ vs scaffold, points (95% CI) |", rule + "---|"
    generated = any(isinstance(a, dict) and a.get("generated_tokens_per_problem") is not None for a in arms.values())
    rows = [head + " tokens / problem |" + (" generated / problem |" if generated else ""),
            rule + "---:|" + ("---:|" if generated else "")]
    for name, a in arms.items():
        if not isinstance(a, dict) or "accuracy" not in a:
            continue
        if name == "plain" or a.get("delta_vs_plain") is None:
            delta, p = "–", "–"
        else:
            delta = f"{100 * a['delta_vs_plain']:+.1f} ({_ci(a.get('delta_ci95'), signed=True)})"
            p = f"{a['mcnemar_p']:.3g}"
        row = f"| {name} | {a.get('n', d.get('n'))} | {a.get('solved', '')} | {_pct(a['accuracy'])} " \
              f"({_ci(a.get('ci95'))}) | {delta} | {p} |"
        if vs_scaffold:
            ds = a.get("delta_vs_scaffold")
            row += " – |" if ds is None else f" {100 * ds:+.1f} ({_ci(a.get('delta_vs_scaffold_ci95'), signed=True)}) |"
        row += f" {a['tokens_per_problem']:,.0f} |"
        if generated:
            g = a.get("generated_tokens_per_problem")
            row += " – |" if g is None else f" {g:,.0f} |"
        rows.append(row)
    return f"Model `{d.get('model')}`, {d.get('n')} dev problems.\n\n" + "\n".join(rows) + _learned(d) + _thirds(d)


def _thirds(d: dict) -> str:
    """Each arm's accuracy on the first, middle and last third of the dev stream (the cold-start arm's curve)."""
    thirds = d.get("thirds") or {}
    if "learning" not in thirds:
        return ""
    cells = "; ".join(f"{arm} {' → '.join(_pct(x) for x in t)}" for arm, t in thirds.items())
    return f"\n\nBy thirds of the dev stream, in the order solved (`learning` starts from an empty memory): {cells}."


def _learned(d: dict) -> str:
    """What the training pass stored and what finding it cost (procedure-learning evaluations only)."""
    learned = (d.get("train") or {}).get("procedures")
    if not learned:
        return ""
    counts = (d.get("snapshot") or {}).get("counts", {})
    quarters = " → ".join(f"{t:,.0f}" for t in learned["tokens_by_quarter"])
    return (f"\n\nTraining: {d['train']['problems']} problems, {learned['programs']} programs asked for, "
            f"{learned['general']} general (passed every check problem; {learned['general_per_100']:.1f} per 100), "
            f"greedy programs solved {learned['greedy_solved']} of {learned['greedy_asked']}; "
            f"{counts.get('procedures', 0)} procedure version(s) stored; generated tokens per training problem by "
            f"quarter of the stream: {quarters}.")


def solved_by_procedures(d: dict) -> str:
    """The ablation, then which stored procedure answered which dev problem, and where each one was learned."""
    procs = {p["id"]: p for p in d.get("procedures") or []}
    solves = d.get("procedure_solves") or []
    lines = [f"{s['problem']} by " + ", ".join(
        f"P{i} (learned on `{procs.get(i, {}).get('source', '?')}`)" for i in s["procedures"])
        + ("" if s["score"] >= 1 else f", scored {s['score']:.2f}") for s in solves]
    said = ("no dev problem was answered by a stored procedure" if not lines
            else "answered by stored procedures: " + "; ".join(lines))
    return ablation(d) + f"\n\nFrozen memory held {len(procs)} procedure(s); {said}."


def throughput(d: dict) -> str:
    m = d.get("machine", {})
    machine = f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores" if isinstance(m, dict) else str(m)
    rows = ["| | generated tok/s | problems/min | latency p50 / p95 s | prefix-cache hit rate |",
            "|---|---:|---:|---|---:|"]
    for phase in ("raw", "agent"):
        r = d.get(phase, {})
        if r:
            rows.append(f"| {'raw vLLM' if phase == 'raw' else 'agent, memory off'} | {r['tok_s']:.1f} | "
                        f"{r['problems_per_min']:.1f} | {r['latency_p50_s']:.0f} / {r['latency_p95_s']:.0f} | "
                        f"{r.get('prefix_cache_hit_rate', 0):.2f} |")
    head = (f"Model `{d.get('model')}`, {d.get('problems')} problems, {d.get('device', 'cpu')} ({machine}); "
            f"**ratio agent/raw {d['ratio']:.2f}**.")
    return head + "\n\n" + "\n".join(rows) + cpu_knobs(d)


def _times(x: float | None) -> str:
    """A speed-up, or a dash where vLLM's defaults generated nothing to divide by."""
    return "–" if x is None else f"{x:.2f}"


def cpu_knobs(d: dict) -> str:
    """The raw phase under vLLM's CPU defaults, each single change from them, and the engine's own choice."""
    knobs = d.get("knobs") or {}
    if not knobs:
        return ""
    rows = ["| raw vLLM, CPU setting | generated tok/s | × vLLM defaults | score |", "|---|---:|---:|---:|"]
    for name, k in knobs.items():
        if k.get("tok_s") is None:
            rows.append(f"| {name} | failed: {k.get('error', '?')} | | |")
            continue
        rows.append(f"| {name} | {k['tok_s']:.1f} | {_times(k['speedup_vs_default'])} | {k['score']:.3f} |")
    rows.append(f"| **the engine's choice** | **{d['raw_tuned_tok_s']:.1f}** | **{_times(d['speedup_vs_default'])}** | "
                f"{d['raw']['score']:.3f} |")
    return "\n\n" + "\n".join(rows)


def procedure_writing(d: dict) -> str:
    head = ("| prompt | programs | general (all held-out puzzles) | per 100 | partly right | mean rate | best | "
            "beat the stored best | solve their own puzzle | together solve |")
    rows = [head, "|---|" + "---:|" * 9]
    for name, v in d["variants"].items():
        beat = "–" if v["beat_stored"] is None else str(v["beat_stored"])
        union = f"{v['union']}/{d['eval_puzzles']}" if "union" in v else "–"
        rows.append(f"| {name} | {v['samples']} | {v['general']} | {v['general_per_100']:.1f} | {v['partial']} | "
                    f"{_pct(v['mean_rate'])} | {_pct(v['best_rate'])} | {beat} | {v.get('solves_own', '–')} | "
                    f"{union} |")
    stored = d.get("stored_best")
    base = (f" The repairs start from snapshot `{d['snapshot']}`'s best (procedure {stored['id']} v{stored['version']}, "
            f"{stored['solved_eval']}/{d['eval_puzzles']} of the same puzzles)." if stored else "")
    return (f"Model `{d['model']}`, temperature {d['temperature']}, {d['samples_per_puzzle']} programs per prompt on "
            f"each of {len(d['write_puzzles'])} training puzzles, each run on {d['eval_puzzles']} held-out training "
            f"puzzles.{base}\n\n" + "\n".join(rows))


def concurrent_api(d: dict) -> str:
    rows = ["| phase | wall s (from a fresh Agent) | solved | engines started |", "|---|---:|---:|---:|"]
    for p in d["phases"]:
        rows.append(f"| {p['name']} | {p['seconds']:.0f} | {p['solved']}/{p['problems']} | {p['engines']} |")
    return (f"Model `{d['model']}`, {d['problems']} RULER-style problems with {d['filler_tokens']} filler tokens "
            f"each, max_tokens {d['max_tokens']}.\n\n" + "\n".join(rows))


def sandbox(d: dict) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(d["by_outcome"].items()))
    jail = d.get("jail_only", {})
    alone = f"{jail['escapes']} of {jail['attacks']}" if jail else "–"
    rss = f"{d['parent_peak_rss_mib_max']} MiB" if "parent_peak_rss_mib_max" in d else "–"
    stored = f"{d['writable_bytes_max'] / (1 << 20):.0f} MiB" if "writable_bytes_max" in d else "–"
    return ("| attacks | escapes | outcomes | escapes with the jail alone (no audit hook) | parent memory growth, max |"
            " most bytes stored |\n|---:|---:|---|---:|---:|---:|\n"
            f"| {d['attacks']} | {d['escapes']} | {outcomes} | {alone} | {rss} | {stored} |")


def procedures_alone(d: dict) -> str:
    rows = "\n".join(f"| {p['id']} (v{p['version']}) | {p['check']} | {p['tried']} | {p['solved']} |"
                     for p in d["procedures"])
    return (f"Snapshot `{d['snapshot']}`, {d['dev']} dev puzzles (split seed {d['split_seed']}): "
            f"**{d['solved']}/{d['dev']} solved ({_pct(d['accuracy'])}) at 0 generated tokens.**\n\n"
            "| procedure | training check | tried | solved |\n|---|---:|---:|---:|\n" + rows)


def families(d: dict) -> str:
    """Per family of a mixed store: each arm's accuracy, frozen's gain in problems, how answers are checked, and
    the procedures stored; then retrieval's hit@k and generated tokens per solved problem."""
    groups = (d.get("groups") or {}).get("family") or {}
    arms = [a for a in ("plain", "off", "scaffold", "frozen", "learning") if a in d.get("arms", {})]
    stored: dict[str, int] = {}
    for p in d.get("procedures") or []:
        stored[p["domain"].split("/", 1)[-1]] = stored.get(p["domain"].split("/", 1)[-1], 0) + 1
    checks = {k.split("/", 1)[-1]: v for k, v in (d.get("family_checks") or {}).items()}
    rows = ["| family | answer check | n | " + " | ".join(arms) + " | frozen − plain, problems | procedures stored |",
            "|---|---|---:|" + "---:|" * len(arms) + "---:|---:|"]
    for fam, cell in groups.items():
        n = int(cell.get("n", 0))
        gain = "–" if "frozen" not in cell or "plain" not in cell else f"{round((cell['frozen'] - cell['plain']) * n):+d}"
        rows.append(f"| {fam} | {checks.get(fam, '–')} | {n} | " + " | ".join(
            _pct(cell[a]) if a in cell else "–" for a in arms) + f" | {gain} | {stored.get(fam, 0)} |")
    k = next((key for key in d if key.startswith("hit_at_")), None)
    tps = d.get("tokens_per_solved") or {}
    notes = []
    if k is not None:
        hit = d[k]
        notes.append(f"retrieval hit@{k.removeprefix('hit_at_')}: " + ("no family had a procedure" if hit is None
                                                                        else _pct(hit)))
    if tps:
        notes.append("generated tokens per solved problem: " + ", ".join(
            f"{a} {tps[a]:,.0f}" if tps.get(a) else f"{a} –" for a in arms if a in tps))
    for m in d.get("machines") or []:
        bf16 = {True: ", native bf16", False: ", no native bf16 (float32)"}.get(m.get("native_bf16"), "")
        notes.append(f"measured on {m.get('cpu')} ({m.get('cores')} cores{bf16})")
    by_source: dict[str, list[str]] = {}
    for arm, source in (d.get("carried") or {}).items():
        by_source.setdefault(source, []).append(arm)
    notes += [f"{' and '.join(a)}: the episodes (and wall time) of evaluation `{src}` on the same split and settings, "
              "not solved again" for src, a in by_source.items()]
    walls = {a: d["arms"][a].get("wall_seconds") for a in arms}
    if (train_wall := (d.get("train") or {}).get("wall_seconds")) is not None:
        walls = {"training": train_wall, **walls}
    if any(w is not None for w in walls.values()):
        notes.append("wall time: " + ", ".join(f"{a} {w / 60:.0f} min" for a, w in walls.items() if w is not None))
    return f"Model `{d.get('model')}`, {d.get('n')} dev problems in one mixed stream.\n\n" + "\n".join(rows) + \
        ("\n\n" + "; ".join(notes) + "." if notes else "")


def recall_groups(d: dict) -> str:
    """Accuracy per hop count, document length and source, per arm; prompt tokens computed vs sent; machine."""
    arms = [a for a in ("plain", "off", "scaffold") if a in d.get("arms", {})]
    rows = ["| group | n | " + " | ".join(arms) + " | off − plain, points |", "|---|---:|" + "---:|" * len(arms) + "---:|"]
    for key, label in (("hops", "hops"), ("length", "tokens"), ("source", "")):
        cells = (d.get("groups") or {}).get(key) or {}
        for value in sorted(cells, key=lambda v: (len(v), v)):
            c = cells[value]
            gap = f"{100 * (c['off'] - c['plain']):+.1f}" if "off" in c and "plain" in c else "–"
            name = f"{value} {label}".strip()
            rows.append(f"| {name} | {int(c['n'])} | " + " | ".join(_pct(c[a]) if a in c else "–" for a in arms)
                        + f" | {gap} |")
    notes = []
    use = d.get("token_use") or {}
    if use:
        notes.append("prompt tokens computed / sent (the rest came from vLLM's prefix cache): " + ", ".join(
            f"{a} {int(u['prompt_computed']):,} / {int(u['prompt_sent']):,}" for a, u in use.items()))
        notes.append("generated tokens per item: " + ", ".join(f"{a} {u['generated_per_item']:,.0f}"
                                                             for a, u in use.items()))
    for m in d.get("machines") or []:
        bf16 = {True: ", native bf16", False: ", no native bf16 (float32)"}.get(m.get("native_bf16"), "")
        notes.append(f"measured on {m.get('cpu')} ({m.get('cores')} cores{bf16})")
    walls = {a: d["arms"][a].get("wall_seconds") for a in arms}
    if any(w is not None for w in walls.values()):
        notes.append("wall time: " + ", ".join(f"{a} {w / 60:.0f} min" for a, w in walls.items() if w is not None))
    return "\n".join(rows) + ("\n\n" + "; ".join(notes) + "." if notes else "")


def recall_kv(d: dict) -> str:
    """The same long-document items under each KV policy: accuracy, generated tokens and seconds per item."""
    rows = ["| kv_policy | n | solved | accuracy | generated / item | s / item |", "|---|---:|---:|---:|---:|---:|"]
    for policy, r in d["policies"].items():
        extra = f" (kv_budget {r['kv_budget']:,})" if r.get("kv_budget") else ""
        rows.append(f"| {policy}{extra} | {r['n']} | {r['solved']} | {_pct(r['accuracy'])} | "
                    f"{r.get('generated_per_item') or 0:,.0f} | {r.get('seconds_per_item') or 0:,.1f} |")
    m = d.get("machine", {})
    return (f"Arm `off`, {d['items']} generated items of {d['length']:,} tokens (seed {d['seed']}), on "
            f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores).\n\n" + "\n".join(rows))


#: The memory ablations the summary table puts side by side: file stem -> column title.
MEMORY_SETS = {"game24_dev_ablation": "Game of 24", "gsm8k_dev_ablation": "GSM8K",
               "gym_dev_ablation": "reasoning-gym, mixed families"}
MEMORY_ARMS = {"plain": "the model alone", "off": "controller, no memory", "scaffold": "memory arms' steps, empty memory",
               "frozen": "trained memory, read only", "learning": "learning on dev (these runs: from the trained memory; the arm now starts empty)"}


def memory_results(sets: dict[str, dict]) -> str:
    """One row per arm, one column pair per ablation file: accuracy and the paired gain over the model alone."""
    heads = [(stem, title) for stem, title in MEMORY_SETS.items() if stem in sets]
    head = "| arm | what it is |" + "".join(
        f" {title}, {sets[stem].get('n')} dev: accuracy | Δ vs plain, points (95% CI) |" for stem, title in heads)
    rows = [head, "|---|---|" + "---:|---|" * len(heads)]
    for arm, what in MEMORY_ARMS.items():
        row = f"| {arm} | {what} |"
        for stem, _ in heads:
            a = sets[stem].get("arms", {}).get(arm)
            if not a:
                row += " not run | – |"
                continue
            delta = "–" if arm == "plain" or a.get("delta_vs_plain") is None else \
                f"{100 * a['delta_vs_plain']:+.1f} ({_ci(a.get('delta_ci95'), signed=True)})"
            row += f" {a['solved']}/{a['n']} ({_pct(a['accuracy'])}) | {delta} |"
        rows.append(row)
    sources = ", ".join(f"`docs/results/{stem}.json`" for stem, _ in heads)
    return "Model `" + "`, `".join(sorted({d.get("model", "?") for d in sets.values()})) + "`.\n\n" + \
        "\n".join(rows) + f"\n\n_Sources: {sources}._"


def html_report(d: dict) -> str:
    """Seconds to build and render ``mnemos report --html``'s page, per evaluation, and the page's size."""
    rows = ["| evaluation | problems | arms | median s | max s | page KB |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in d["evaluations"].items():
        what = f"`{name}` (real)" if r.get("kind") == "real" else "made up (`agent.evaluation.synthetic`)"
        rows.append(f"| {what} | {r['problems']:,} | {r['arms']} | {r['median_s']:.2f} | {r['max_s']:.2f} | "
                    f"{r['page_kb']:,.0f} |")
    m = d.get("machine", {})
    note = f" {d['note'][0].upper()}{d['note'][1:]}." if d.get("note") else ""
    return (f"`build_page` + `render_html`, {d['repeat']} runs each, on {m.get('cpu', '?')} ({m.get('cores', '?')} "
            f"cores).{note}\n\n" + "\n".join(rows))


def served_engine(d: dict) -> str:
    """In-process engine vs `mnemos serve`, the same problems one after the other: answers and speed."""
    rows = ["| engine | generated tokens | wall s | generated tok/s | solved |", "|---|---:|---:|---:|---:|"]
    for name, key in (("in-process (AsyncLLM)", "in_process"), ("served (`mnemos serve`, HTTP)", "served")):
        r = d[key]
        rows.append(f"| {name} | {r['generated_tokens']:,} | {r['wall_s']:.0f} | {r['tok_s']:.1f} | "
                    f"{r['solved']}/{d['problems']} |")
    m = d.get("machine", {})
    same = "identical" if d["identical_answers"] else f"different on {len(d['differing'])} ({', '.join(d['differing'])})"
    return (f"Model `{d['model']}`, {d['problems']} GSM8K problems ({d['source']}), greedy, all in flight, on "
            f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores). Answers: **{same}**; generated tok/s served / "
            f"in-process: **{d['ratio']:.2f}**.\n\n" + "\n".join(rows))


TABLES: dict[str, Callable[[dict], str]] = {
    "gsm8k_dev_ablation": ablation,
    "game24_dev_ablation": ablation,
    "gym_dev_ablation": ablation,
    "gym_families": families,
    "gym_cold_start": ablation,
    "gym_cold_new_family": ablation,
    "arc_small_ablation": solved_by_procedures,
    "game24_pilot": ablation,
    "game24_procedures_alone": procedures_alone,
    "procedure_writing": procedure_writing,
    "procedure_writing_complement": procedure_writing,
    "procedure_distill": procedure_writing,
    "concurrent_api": concurrent_api,
    "throughput": throughput,
    "throughput_full_attempts": lambda d: throughput(d["full_attempts"]),
    "sandbox_attacks": sandbox,
    "html_report": html_report,
    "served_engine": served_engine,
    "recall_dev_ablation": ablation,
    "recall_groups": recall_groups,
    "recall_kv_policies": recall_kv,
}


#: Tables drawn from part of another table's file: marker name -> file stem.
SOURCES = {"throughput_full_attempts": "throughput", "gym_families": "gym_dev_ablation",
           "recall_groups": "recall_dev_ablation"}


def render(readme: str) -> str:
    pattern = re.compile(r"(<!-- results:memory_results -->\n)(?:.*?\n)?(<!-- /results:memory_results -->)", re.DOTALL)
    sets = {stem: json.loads((RESULTS / f"{stem}.json").read_text()) for stem in MEMORY_SETS
            if (RESULTS / f"{stem}.json").is_file()}
    if sets and pattern.search(readme):
        readme = pattern.sub(lambda m: m.group(1) + memory_results(sets) + "\n" + m.group(2), readme)
    for name, fn in TABLES.items():
        path = RESULTS / f"{SOURCES.get(name, name)}.json"
        pattern = re.compile(rf"(<!-- results:{name} -->\n)(?:.*?\n)?(<!-- /results:{name} -->)", re.DOTALL)
        if not path.is_file() or not pattern.search(readme):
            continue
        table = fn(json.loads(path.read_text())) + f"\n\n_Source: `docs/results/{path.name}`._"
        readme = pattern.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md differs from the JSON figures")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args(argv)
    old = args.readme.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README result tables are out of date: run python benchmarks/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
