"""``mnemos chat``: an interactive, streaming conversation with the local model."""

from __future__ import annotations

import argparse
import functools
import sys

from agent.api import Agent
from agent.config import Settings

HELP = "commands: /reset (forget the conversation), /save FILE (write it as JSON), /exit"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to the model (streams tokens; /reset, /save FILE, /exit)",
                       description=f"Interactive chat with the local model. {HELP}.")
    p.add_argument("--once", metavar="QUESTION", help="answer one question, print it and exit (for scripts)")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--solve", action="store_true",
                   help="answer through the reasoning controller (recall, procedures, concepts, memory) "
                        "instead of plain chat; each question is stored as an episode")
    p.add_argument("--show-trace", action="store_true",
                   help="with --solve: print graph nodes as they run and the full trace after each answer")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("loading model...", file=sys.stderr, flush=True)
    with Agent(settings, system_prompt=args.system) as agent:
        agent.llm  # noqa: B018 - start the engine before the first prompt
        if args.show_trace:
            agent.controller.on_node = lambda node, _update: print(f"  [{node}]", file=sys.stderr, flush=True)
        answer = functools.partial(_answer, solve=args.solve or args.show_trace, show_trace=args.show_trace)
        if args.once is not None:
            return answer(agent, args.once)
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
                answer(agent, line)


def _answer(agent: Agent, question: str, solve: bool = False, show_trace: bool = False) -> int:
    if solve:
        return _solve(agent, question, show_trace)
    for piece in agent.chat_stream(question):
        print(piece, end="", flush=True)
    print()
    return 0


def _solve(agent: Agent, question: str, show_trace: bool) -> int:
    from agent.controller.render import render_trace

    result = agent.solve(question, run_id="chat")
    print(result.answer if result.answer is not None else f"(no answer: {result.end_reason})")
    if show_trace:
        print(render_trace(result.trace), file=sys.stderr)
        print(f"(episode {result.episode_id}; `mnemos trace show {result.episode_id}`)", file=sys.stderr)
    return 0
