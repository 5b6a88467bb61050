"""Every string the model reads: system and user turns, writer prompts, and the notes nodes insert.

The ablation and prompt-redesign work changes wording often; keeping it all in
one module means such a change is one edit and never touches control flow.
Tag *names* and the shape of controller blocks come from :mod:`agent.controller.tags`,
so the wording here cannot drift from what the parser recognises.
"""

from __future__ import annotations

from agent.controller.toolbox import BY_NAME
from agent.llm import ChatMessage
from tools.domains import get_domain
from tools.problem import Problem

# --- solving ---------------------------------------------------------------------------------------

#: The menu's opening. Only the tools that apply to the problem at hand are listed (each tool's own
#: ``applies``); with none, the model gets no system prompt at all and reasons exactly as it does alone.
#: Measured on GSM8K tuning problems (Qwen2.5-Coder-1.5B): listing tags it never used still shortened
#: its reasoning and cost accuracy.
TOOLS_INTRO = ("Reason step by step in plain text, as you normally would. If it helps, you may use these tools; "
               "each one answers right after you close its tag:")


def system_prompt(tools: list[str]) -> str | None:
    """The tool menu for the tools that apply, or None (no system turn) when none does."""
    lines = [BY_NAME[t].line for t in tools if t in BY_NAME]
    return "\n".join([TOOLS_INTRO, *lines]) if lines else None


def problem_text(problem: Problem) -> str:
    """The problem as the model reads it: its family's instruction (if any) and then its own text."""
    return get_domain(problem.domain).problem_text(problem)


#: Passages the controller finds for the question before the model starts, shown in the user turn (never as the
#: model's own recall): in the model's turn, a first-hop fact read as work already done and the 1.5B model
#: answered at once, 0/12 against the model alone's 3/12 on two-hop questions.
EVIDENCE_PRIMER = ("Sentences of the document that share names, places or numbers with the question, quoted "
                   "exactly. They are where to start, not the answer: a question about one person often needs a "
                   "second fact about another, so check each step against the document.\n{passages}")


def primer_text(spans: list[str]) -> str:
    return EVIDENCE_PRIMER.format(passages="\n".join(f'- "{s}"' for s in spans)) if spans else ""


def user_prompt(problem: Problem, concepts: str = "", retry: str = "", procedures: str = "",
                tools: list[str] | None = None, evidence: str = "") -> str:
    """The user turn: document, concepts, procedures, the tool menu (where there is a document), primed
    evidence, the problem, the family's answer guide, and a retry note.

    A document always comes first, so every arm of a long-context item (the model alone included) shares the
    same prompt prefix and vLLM's prefix cache computes the document once. Without additions this is exactly
    the model-alone prompt (``Domain.plain_prompt``).
    """
    domain = get_domain(problem.domain)
    question = domain.question_parts(problem)
    head, rest = (question[:1], question[1:]) if problem.context else ([], question)
    parts = list(head)
    if concepts:
        parts.append(f"Concepts that may help:\n{concepts}")
    if procedures:
        parts.append(PROCEDURES_SHOWN.format(procedures=procedures))
    if problem.context and (menu := system_prompt(tools or [])):
        parts.append(menu)
    if evidence:
        parts.append(evidence)
    parts.extend(rest)
    if guide := domain.answer_guide:
        parts.append(guide)
    if retry:
        parts.append(retry)
    return "\n\n".join(parts)


def solve_messages(problem: Problem, concepts: str = "", retry: str = "", tools: list[str] | None = None,
                   procedures: str = "", evidence: str = "") -> list[ChatMessage]:
    """The attempt's opening turns. With a document the tool menu sits after it in the user turn, so no arm
    has a system turn of its own and all share the document's prefix."""
    system = None if problem.context else system_prompt(tools or [])
    user = ChatMessage(role="user", content=user_prompt(problem, concepts, retry, procedures, tools, evidence))
    return [ChatMessage(role="system", content=system), user] if system else [user]


RETRY_PROMPT = """Your previous attempt was not accepted.
Previous answer: {answer}
Verifier feedback: {feedback}
Look at what went wrong, revise your reasoning and give a new answer."""

# --- notes and block bodies the nodes insert into the transcript ------------------------------------

FOLD_FALLBACK = "(earlier reasoning folded)"


# --- concept selection and folding ------------------------------------------------------------------

CONCEPT_CHOICE_PROMPT = """Problem:
{problem}

Concept: {name}
{description}
Useful when: {cues}

Is this concept relevant to solving the problem? Answer yes or no."""
CONCEPT_CHOICES = ["yes", "no"]

FOLD_PROMPT = """Summarise the reasoning below in a few short sentences. Keep every fact, number and intermediate result; drop repetition.

{text}

Summary:"""

# --- learning: writing concepts and subroutines after a verified solve ------------------------------

CONCEPT_WRITE_PROMPT = """A problem was solved and the solution was verified. Write the general method behind it, so it helps on other problems that tell a different story.
Name the kind of calculation it needed, in words that fit any story. Leave out the problem's people, things, places and numbers.
Reuse one of these existing names if it is the same method: {names}

Problem:
{problem}

Reasoning:
{trace}

Answer: {answer}

Write the concept in exactly this format, each field one short sentence ending with a period:
concept: <the method's name, two to six words>
kind: routine or structure
description: <what the method computes>.
cues: <the kind of question it answers>.
notes: <its steps in general terms, separated by ;>.
"""

#: Constrained format for concept writing, so even a small model's output parses. Each field is one
#: sentence starting with a letter (not a list's "1."); its full stop closes it. That bounds the notes,
#: which the model never ends with a newline, without a large counted repeat (those time out xgrammar).
CONCEPT_REGEX = (
    r"concept: [A-Za-z][A-Za-z0-9 _-]{2,40}\n"
    r"kind: (routine|structure)\n"
    r"description: [A-Za-z][^\n<>.!?]*\.\n"
    r"cues: [A-Za-z][^\n<>.!?]*\.\n"
    r"notes: [A-Za-z][^\n<>.!?]*\.\n"
)

#: A new concept on trial: shown before a held problem's plain prompt, which is otherwise asked as is, so the
#: two solves of the trial differ only in the concept (``agent/controller/trials.py``).
CONCEPT_TRIAL_PROMPT = """A method that may help:
{concept}

{problem}"""

DECOMPOSE_PROMPT = """Split the solved problem below into self-contained sub-questions, each with the procedure that answers it, so the procedures can be reused on other problems.

Problem:
{problem}

Reasoning:
{trace}

Answer: {answer}

Write one to three pairs in exactly this format:
Q: <sub-question>
P: <procedure>
"""

DECOMPOSE_REGEX = r"Q: [^\n<>]+\nP: [^\n<>]+\n(Q: [^\n<>]+\nP: [^\n<>]+\n)?"

# --- procedures as code: writing and repairing a general function for a task family ----------------

PROCEDURE_WRITE_PROMPT = """Write a Python function that solves every problem of the kind below, not only this one.

{problem}
{others}
Write `def {signature}`.
It must: {doc}
Use only the standard library. When the possibilities are few enough to try, try all of them rather than guessing, and check each candidate before returning it. Reply with one ```python code block and nothing else."""

#: For families whose problems are stories (``Domain.stories``): a few other problems of the family as the function
#: receives them, so the model sees what varies from one to the next (the letter to count, the bases) instead of
#: fixing this problem's values; empty for other families. Those shown are left out of the cross-check.
PROCEDURE_OTHERS = """
Other problems of this kind, as your function receives them, each with a right answer:
{examples}
"""

PROCEDURE_REPAIR_PROMPT = """This function is meant to solve every problem of the kind below, but it fails on some.

{problem}

```python
{code}
```

It must: {doc}
It is right on {passed} of the {checked} problems it was checked on. Where it fails:
{failures}

Find what is wrong and write the corrected `def {signature}`. Use only the standard library. Reply with one ```python code block and nothing else."""

#: A fresh program aimed at what the stored ones fail: failing check problems with their answers, no code shown.
#: (Shown the stored code, the model mostly wrote it again: procedure_writing.json.)
PROCEDURE_COMPLEMENT_PROMPT = """Write a Python function that solves every problem of the kind below, not only this one.

{problem}

Write `def {signature}`.
It must: {doc}
The functions written so far fail on these problems; a right answer to each:
{examples}
Your function must also find answers like these. Use only the standard library. When the possibilities are few enough to try, try all of them rather than guessing, and check each candidate before returning it. Reply with one ```python code block and nothing else."""

PROCEDURE_DISTILL_PROMPT = """Here is a problem and a right answer to it.

{problem}

Right answer: {answer}
{others}
Write a Python function that finds an answer of this same form for any problem of this kind. Where the answer uses this problem's values, use the function's inputs instead; try every way of placing them, check each candidate, and return None when none fits.
Write `def {signature}`.
It must: {doc}
Use only the standard library. Reply with one ```python code block and nothing else."""

#: The memory block that lists stored procedures; they are defined already when the model runs ``<python>``.
PROCEDURES_SHOWN = "Procedures from memory, already defined in <python> (call them there):\n{procedures}"
