"""`mnemos solve` on a scripted model that can park requests forever, for the hard-kill resume test.

    python solve_kill_target.py HOME LOG RUN_ID N PARK

Solves ``mathgen.generate(N, seed=7)`` in learning mode with gold verification,
so every verified problem writes a concept and a subroutine (math has no held
problems to try a concept on, so no concept is stored). The model answers
the gold answer and writes memory named after the problem. Every request is
logged to LOG as ``<kind> <problem id>``. PARK (``kind:index,...`` or ``-``)
names steps that never return: ``think:4`` parks problem 4's model request
before it answers, ``subwrite:5`` parks problem 5's subroutine write after its
concept was written, so a SIGKILL lands mid-solve and mid-learn deterministically.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import threading

from agent.controller.prompts import CONCEPT_REGEX, DECOMPOSE_REGEX
from agent.llm import GenParams
from tests.fakes import ScriptedGenerator
from tools.tasks.mathgen import generate

SEED = 7
WORDS = ["harbour", "violin", "glacier", "pepper", "lantern", "orchid", "falcon", "quartz", "meadow", "saddle",
         "thimble", "walrus"]


class ParkingModel(ScriptedGenerator):
    def __init__(self, problems, log: str, park: set[tuple[str, str]]):
        self.problems, self.log, self.park = problems, log, park
        super().__init__(self.reply)

    def which(self, prompt: str, params: GenParams) -> tuple[str, object | None]:
        kind = ("concept" if params.regex == CONCEPT_REGEX else "decompose" if params.regex == DECOMPOSE_REGEX
                else "choice" if params.choice else "think")
        return kind, next((p for p in self.problems if p.prompt in prompt), None)

    def reply(self, prompt: str, params: GenParams) -> str:
        kind, p = self.which(prompt, params)
        if kind == "choice":
            return "no" if "no" in params.choice else params.choice[0]
        if p is None:
            return "<answer>0</answer>"
        if kind == "concept":
            # Abstract, as learning requires (a concept restating the problem's numbers is rejected), and
            # distinct per problem, so no two merge.
            word = WORDS[self.problems.index(p) % len(WORDS)]
            return (f"concept: rule {p.id}\nkind: routine\ndescription: the {word} rule for "
                    f"{re.sub(r'[0-9]+', 'a number', p.prompt[:120]).replace('.', ',').replace('?', ',')}.\n"
                    f"cues: {p.meta.get('template', 'sum')} {word}.\nnotes: from {p.id}.\n")
        if kind == "decompose":
            word = WORDS[self.problems.index(p) % len(WORDS)]
            return f"Q: the {word} step of {p.id}\nP: apply the {word} rule\n"
        return f"Let me think. <answer>{p.gold}</answer>"

    async def agenerate(self, prompts, params):
        plist = params if isinstance(params, list) else [params] * len(prompts)
        for prompt, prm in zip(prompts, plist, strict=True):
            kind, p = self.which(prompt, prm)
            pid = p.id if p is not None else "?"
            with open(self.log, "a") as fh:
                fh.write(f"{kind} {pid}\n")
            if (kind, pid) in self.park:
                with open(self.log, "a") as fh:
                    fh.write(f"parked {kind} {pid}\n")
                await asyncio.Event().wait()  # never returns: the process is killed here
        await asyncio.sleep(0.01)
        return self.generate(prompts, params)


def _park_subroutine_writes(log: str, pids: set[str]) -> None:
    from memory.subroutines import SubroutineStore

    real = SubroutineStore.add_many

    def add_many(self, items):
        for pid in pids:
            if any(str(getattr(i, "source", "")).endswith(f":{pid}") for i in items):
                with open(log, "a") as fh:
                    fh.write(f"parked subwrite {pid}\n")
                threading.Event().wait()  # never returns: the process is killed here
        return real(self, items)

    SubroutineStore.add_many = add_many


def main() -> int:
    home, log, run_id, n, park_spec = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    problems = generate(n, seed=SEED)
    park = set()
    for item in filter(None, park_spec.replace("-", "").split(",")):
        kind, index = item.split(":")
        park.add((kind, problems[int(index)].id))
    model = ParkingModel(problems, log, park)
    _park_subroutine_writes(log, {pid for kind, pid in park if kind == "subwrite"})

    import agent.engine
    from agent.cli import main as cli

    agent.engine.Engine.from_settings = classmethod(lambda cls, settings, **kw: model)
    return cli(["--home", home, "solve", "math", "--generate", str(n), "--seed", str(SEED), "--run-id", run_id,
                "--memory-mode", "learning", "--verify", "gold", "--no-progress"])


if __name__ == "__main__":
    # Ctrl-C is what the test sends: a shell running pytest in the background starts it with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
