"""``mnemos chat``: an interactive, streaming conversation with the local model."""

from __future__ import annotations

import argparse
import sys

from agent.api import Agent
from agent.config import Settings

HELP = "commands: /reset (forget the conversation), /save FILE (write it as JSON), /exit"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to the model (streams tokens; /reset, /save FILE, /exit)",
                       description=f"Interactive chat with the local model. {HELP}.")
    p.add_argument("--once", metavar="QUESTION", help="answer one question, print it and exit (for scripts)")
    p.add_argument("--system", help="system prompt")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("loading model...", file=sys.stderr, flush=True)
    with Agent(settings, system_prompt=args.system) as agent:
        agent.llm  # noqa: B018 - start the engine before the first prompt
        if args.once is not None:
            return _answer(agent, args.once)
        print(f"mnemos chat ({settings.model or 'embedded SmolLM2-135M-Instruct'}). {HELP}", file=sys.stderr)
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                return 0
            if not line:
                continue
            if line in ("/exit", "/quit"):
                return 0
            if line == "/reset":
                agent.reset()
                print("(conversation cleared)")
            elif line.startswith("/save"):
                target = line.removeprefix("/save").strip()
                if not target:
                    print("usage: /save FILE")
                    continue
                try:
                    print(f"(saved to {agent.save(target)})")
                except OSError as exc:
                    print(f"(could not save: {exc})")
            elif line.startswith("/"):
                print(f"unknown command {line.split()[0]}; {HELP}")
            else:
                print("mnemos> ", end="", flush=True)
                _answer(agent, line)


def _answer(agent: Agent, question: str) -> int:
    for piece in agent.chat_stream(question):
        print(piece, end="", flush=True)
    print()
    return 0
