"""Math word problems: JSONL loading (GSM8K / MATH shapes), answer extraction and equivalence.

Equivalence is delegated to ``math-verify`` (sympy underneath) so ``1/2``,
``0.5`` and ``\\frac{1}{2}`` agree and units or trailing prose do not matter.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

from tools.problem import ANSWER_TAG, Problem

_ANSWER_TAG = re.compile(rf"<{ANSWER_TAG}>(.*?)(?:</{ANSWER_TAG}>|$)", re.DOTALL | re.IGNORECASE)
_MAX_ANSWER_CHARS = 400


class _KnownTimeoutNotice(logging.Filter):
    """We switch math-verify's SIGALRM timeouts off in worker threads on purpose (answers are length-capped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_KnownTimeoutNotice())


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i : j - 1].strip() if depth == 0 else None


def _gsm8k_gold(answer: str) -> str:
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


def record_to_problem(record: object, name: str, index: int) -> Problem:
    """One JSONL record in GSM8K or MATH shape; ValueError (without location) for anything else."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")  # noqa: TRY004 - bad data, reported with its line
    rid = str(record.get("unique_id") or record.get("id") or f"{name}-{index}")
    if isinstance(record.get("question"), str) and isinstance(record.get("answer"), str):
        if "####" not in record["answer"]:
            raise ValueError("GSM8K-style 'answer' has no '#### <final answer>' line")
        gold = _gsm8k_gold(record["answer"])
        return Problem(id=rid, domain="math", prompt=record["question"], gold=gold, meta={"format": "gsm8k"})
    if isinstance(record.get("problem"), str):
        if record.get("answer") not in (None, ""):
            gold = str(record["answer"]).strip()
        elif isinstance(record.get("solution"), str) and (boxed := last_boxed(record["solution"])) is not None:
            gold = boxed
        else:
            raise ValueError("MATH-style record needs an 'answer' or a 'solution' with \\boxed{...}")
        meta = {"format": "math", **{k: record[k] for k in ("level", "subject", "type") if k in record}}
        return Problem(id=rid, domain="math", prompt=record["problem"], gold=gold, meta=meta)
    keys = ", ".join(sorted(record)) or "none"
    raise ValueError(
        f"unrecognised record (keys: {keys}); expected GSM8K 'question'+'answer' or MATH 'problem'+'solution'/'answer'"
    )


def load_jsonl(path: Path, limit: int | None = None) -> list[Problem]:
    """All problems in a JSONL file; the first bad line stops the load with ``file:line: reason``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"math problem file not found: {path}")
    problems: list[Problem] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                problems.append(record_to_problem(json.loads(line), path.stem, lineno))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
            if limit is not None and len(problems) >= limit:
                break
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate problem ids; give each record a unique 'id'")
    return problems


def extract_answer(text: str | None) -> str | None:
    """The final answer a solution commits to: ``<answer>`` tag, else the last ``\\boxed{}``, else the text."""
    if not text or not text.strip():
        return None
    tags = _ANSWER_TAG.findall(text)
    if tags and tags[-1].strip():
        return tags[-1].strip()
    boxed = last_boxed(text)
    if boxed:
        return boxed
    return text.strip()


def tagged_answer(text: str | None) -> str | None:
    """The body of the last non-empty ``<answer>`` tag, if any."""
    bodies = [b.strip() for b in _ANSWER_TAG.findall(text or "") if b.strip()]
    return bodies[-1] if bodies else None


_LAST_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def final_number(text: str | None) -> str | None:
    """The answer a math solution commits to: the last ``\\boxed{}`` or ``<answer>``, reduced to its number.

    Models write "448 minutes" or "20 pounds of feed is left." in an answer slot;
    scoring wants the quantity, so a committed answer that is a sentence around one
    number is read as that number. An expression or a non-numeric answer is kept
    whole (math-verify compares those), and text that commits to nothing gives None.
    """
    committed = last_boxed(text or "") or tagged_answer(text)
    if committed is None:
        return None
    if re.fullmatch(r"\s*-?\$?\d[\d,]*(?:\.\d+)?\s*", committed):
        return committed.strip().replace("$", "").replace(",", "")
    if "\\" in committed or _unevaluated(committed):
        return committed.strip()
    numbers = _LAST_NUMBER.findall(committed)
    if len(set(numbers)) == 1 or (numbers and not re.search(r"[=+*/^]", committed)):
        return numbers[-1].replace("$", "").replace(",", "").rstrip(".")
    return committed.strip()


def _parses(text: str, as_gold: bool) -> list[list]:
    """Candidate parses: as written, and read as LaTeX math when the text has no delimiters."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    configs = [LatexExtractionConfig(), ExprExtractionConfig()]
    text = text[-_MAX_ANSWER_CHARS:]
    candidates = [text]
    if "$" not in text and "\\boxed" not in text:
        candidates = [f"${text}$"] if as_gold else [f"${text}$", text]
    out = []
    for candidate in candidates:
        parsed = parse(candidate, extraction_config=configs, parsing_timeout=_timeout())
        if parsed:
            out.append(parsed)
    return out


def _timeout() -> int | None:
    """math-verify's timeouts use SIGALRM, which only works on the main thread; worker threads go without."""
    return 5 if threading.current_thread() is threading.main_thread() else None


def answers_equivalent(gold: str, predicted: str | None) -> bool:
    """Whether a model's answer (any surrounding text allowed) matches the gold answer mathematically."""
    from math_verify import verify

    answer = extract_answer(predicted)
    if answer is None:
        return False
    gold = str(gold).strip()
    if re.fullmatch(r"-?[\d,]+(\.\d+)?", gold):
        gold = gold.replace(",", "")
    if _NUMBER.fullmatch(gold) and _unevaluated(answer):
        return False
    golds = _parses(gold, as_gold=True)
    preds = _parses(answer, as_gold=False)
    if not golds or not preds:
        return _normalise(gold) == _normalise(answer)
    return any(bool(verify(g, p, timeout_seconds=_timeout())) for g in golds for p in preds)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")
_OPERATION = re.compile(r"\d\s*(?:[-+*×x^]|\\times|\\cdot|/\s*\d+\s*/)\s*\(?-?\d")


def _unevaluated(answer: str) -> bool:
    """An expression still to be computed ("1/3 + 3/5") is a restated question, not a numeric answer.

    Only the part after the last "=" counts, so "5 + 5 = 10" is an answer.
    """
    return bool(_OPERATION.search(answer.rsplit("=", 1)[-1]))


def _normalise(s: str) -> str:
    return re.sub(r"[\s$.]+", "", s).lower()


def score_problem(problem: Problem, attempts: list[str]) -> float:
    """Pass@1 on the final attempt: earlier attempts were superseded by the solver."""
    if not attempts or problem.gold is None:
        return 0.0
    return 1.0 if answers_equivalent(str(problem.gold), attempts[-1]) else 0.0
