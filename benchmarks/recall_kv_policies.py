"""Does a compressed KV cache keep what recall needs? The same long-document items under kv_policy full, fp8, fold.

Each policy is its own evaluation (`mnemos eval text`, arm `off`, the same generated items at one
length), since fp8 changes how the engine stores its cache. fold keeps the document and folds the
model's own transcript once the live context passes the document plus ``--fold-room`` tokens.

    python benchmarks/recall_kv_policies.py [--items 12] [--length 8000] [--policies full,fp8,fold]

Writes docs/results/recall_kv_policies.json: accuracy, generated tokens and seconds per item, per policy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# Sibling scripts (benchmarks/kvcache.py, ...) would shadow the project's packages of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "recall_kv_policies.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=12)
    ap.add_argument("--length", type=int, default=8000)
    ap.add_argument("--policies", default="full,fp8,fold")
    ap.add_argument("--fold-room", type=int, default=1024, help="transcript tokens kept live before folding")
    ap.add_argument("--max-tokens", type=int, default=768)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    from agent.config import Settings
    from agent.evaluation.machine import this_machine

    home = Settings().home
    rows = {}
    for policy in [p.strip() for p in args.policies.split(",") if p.strip()]:
        name = f"recall-kv-{policy}-{args.length}-{args.items}-s{args.seed}"
        flags = ["--kv-policy", policy]
        if policy == "fold":
            flags += ["--kv-budget", str(int(args.length * 1.15) + args.fold_room)]
        cmd = [sys.executable, "-m", "agent.cli", *flags, "eval", "text", "--name", name, "--arms", "off",
               "--generate", str(2 * args.items), "--dev-size", str(args.items), "--lengths", str(args.length),
               "--split-seed", str(args.seed), "--max-tokens", str(args.max_tokens), "--no-progress"]
        env = {**os.environ, "MNEMOS_BUDGETS__TOKENS": str(args.max_tokens), "MNEMOS_BUDGETS__RETRIES": "0"}
        print(" ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        report = json.loads((home / "runs" / name / "eval.json").read_text())
        arm = report["arms"]["off"]
        use = report.get("token_use", {}).get("off", {})
        rows[policy] = {"evaluation": name, "n": arm["n"], "solved": arm["solved"], "accuracy": arm["accuracy"],
                        "generated_per_item": use.get("generated_per_item"),
                        "seconds_per_item": round(arm["wall_seconds"] / arm["n"], 1) if arm.get("wall_seconds")
                        else None,
                        **({"kv_budget": int(args.length * 1.15) + args.fold_room} if policy == "fold" else {})}
    result = {"what": "arm off (controller, recall on) on the same generated items, one evaluation per kv_policy",
              "length": args.length, "items": args.items, "seed": args.seed, "max_tokens": args.max_tokens,
              "machine": this_machine().model_dump(mode="json"), "policies": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
