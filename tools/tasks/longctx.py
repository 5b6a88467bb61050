"""Long-context multi-hop questions, generated (RULER's multi-hop and variable-tracking tasks in spirit).

Each item hides a few facts about a dozen people in 2k-12k tokens of prose. The
question needs 1-3 of them chained, and every fact type also appears for people the
question is not about, so matching one sentence is never enough:

* 1 hop: "How many brass keys does Ada Quill keep?" / "Who was born in Marrow Cove?"
* 2 hops: "How many brass keys does the person born in Marrow Cove keep?" /
  "Who is the mentor of the person born in Marrow Cove?"
* 3 hops: the person born there keeps "7 more brass keys than" someone whose count is
  stated elsewhere / "In which town was the mentor of the person born in Marrow Cove born?"

Answers are numbers or names. A fixed seed gives the same items every time.
"""

from __future__ import annotations

import random

from tools.problem import Problem

FIRST = ["Ada", "Bram", "Cleo", "Dov", "Edda", "Finn", "Greta", "Hugo", "Ines", "Jory", "Kasia", "Luca", "Mira",
         "Nils", "Oona", "Piet", "Rhea", "Soren", "Tova", "Ulla", "Vik", "Wren", "Yara", "Zeno"]
LAST = ["Quill", "Marsh", "Thorne", "Vale", "Brook", "Crane", "Fenwick", "Garrow", "Holt", "Ivers", "Kestrel",
        "Lowe", "Morrow", "Nettle", "Orrin", "Pike", "Rook", "Sallow", "Tern", "Wick"]
TOWNS = ["Marrow Cove", "Ashford Hollow", "Bleakmoor", "Cinder Ridge", "Dunwater", "Elmstead", "Foxmere",
         "Glimmerton", "Harrowgate", "Ironvale", "Juniper Bay", "Kettlewick", "Larkspur", "Mistral Point",
         "Northwold", "Oakhaven", "Pebblebrook", "Quarry End", "Ravensholt", "Saltmarsh"]
THINGS = ["brass keys", "glass marbles", "copper coins", "silk ribbons", "clay pipes", "tin soldiers"]
_SUBJECTS = ["The harbour", "An old mill", "The village green", "A narrow lane", "The orchard", "The lighthouse",
             "A stone bridge", "The market square", "The chapel bell", "A field of barley", "The ferry",
             "The weather vane", "A row of cottages", "The school yard", "The canal"]
_VERBS = ["stood quiet", "caught the morning light", "was busy by noon", "smelled of rain", "looked freshly painted",
          "echoed with gulls", "had been repaired twice", "drew a few travellers", "lay under thin fog",
          "was crowded on feast days"]
_TAILS = ["that autumn", "as it had for years", "before the storm came", "while the tide was out",
          "long after sunset", "in the quiet season", "according to the almanac", "much as the elders recalled"]
#: Context lengths (tokens, estimated at 1.3 per word) and hop counts of a default set; longer only on request.
LENGTHS = (1000, 2000, 4000, 8000)
HOPS = (1, 2, 3)
TOKENS_PER_WORD = 1.3


def _filler(rng: random.Random) -> str:
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_TAILS)}."


def make_item(index: int, hops: int, length: int, rng: random.Random) -> Problem:
    """One item: its facts (the chain and distractors of every type) scattered through ``length`` tokens."""
    names = rng.sample([f"{f} {l}" for f in FIRST for l in LAST], 12)
    towns = rng.sample(TOWNS, 12)
    thing = rng.choice(THINGS)
    born = dict(zip(names, towns, strict=True))
    counts = {n: rng.randint(3, 60) for n in names}
    mentors = {n: rng.choice([m for m in names if m != n]) for n in names}
    numeric = rng.random() < 0.5
    target = names[0]
    facts = [f"{n} was born in {t}." for n, t in born.items()]
    facts += [f"{m} is the mentor of {n}." for n, m in list(mentors.items())[:8]]
    if mentors[target] not in [m for n, m in list(mentors.items())[:8]]:
        facts.append(f"{mentors[target]} is the mentor of {target}.")
    if hops == 3 and numeric:
        other = names[1]
        diff = rng.randint(2, 15)
        counts[target] = counts[other] + diff
        relative = {target: f"{target} keeps {diff} more {thing} than {other}."}
        second = rng.choice(names[2:])
        relative[second] = f"{second} keeps {rng.randint(2, 15)} fewer {thing} than {rng.choice(names[3:])}."
        facts += [relative.get(n, f"{n} keeps {c} {thing}.") for n, c in counts.items()]
    else:
        facts += [f"{n} keeps {c} {thing}." for n, c in counts.items()]
    town = born[target]
    if numeric:
        question = {1: f"How many {thing} does {target} keep?",
                    2: f"How many {thing} does the person born in {town} keep?",
                    3: f"How many {thing} does the person born in {town} keep?"}[hops]
        gold, kind = str(counts[target]), "number"
    else:
        mentor = mentors[target]
        question = {1: f"Who was born in {town}?",
                    2: f"Who is the mentor of the person born in {town}?",
                    3: f"In which town was the mentor of the person born in {town} born?"}[hops]
        gold = {1: target, 2: mentor, 3: born[mentor]}[hops]
        kind = "town" if hops == 3 else "name"
    sentences: list[str] = []
    budget = length / TOKENS_PER_WORD - sum(len(f.split()) for f in facts)
    while sum(len(s.split()) for s in sentences) < budget:
        sentences.append(_filler(rng))
    for fact in facts:
        sentences.insert(rng.randrange(len(sentences) + 1), fact)
    answer_as = "the number only" if kind == "number" else f"the {kind} only"
    return Problem(id=f"lc-{index}", domain="text", prompt=f"{question} Answer with {answer_as}.",
                   context=" ".join(sentences), gold=gold,
                   meta={"hops": hops, "length": length, "answer_type": kind, "source": "longctx"})


def generate(n: int, seed: int = 0, lengths: tuple[int, ...] = LENGTHS, hops: tuple[int, ...] = HOPS) -> list[Problem]:
    """``n`` items cycling through every (hops, length) cell, so each bucket gets its share."""
    rng = random.Random(seed)
    cells = [(h, ln) for ln in lengths for h in hops]
    return [make_item(i, *cells[i % len(cells)], rng) for i in range(n)]


def budget_cells(tokens: int, lengths: tuple[int, ...] = LENGTHS, hops: tuple[int, ...] = HOPS) -> list[tuple[int, int]]:
    """(hops, length) cells of a set that fits ``tokens`` of documents: each length gets an equal share of the
    budget, so short documents come in larger numbers than long ones, and each length cycles through the hops."""
    if tokens <= 0 or not lengths or not hops:
        raise ValueError("a token budget, lengths and hops are needed")
    share = tokens / len(lengths)
    cells = []
    for length in sorted(lengths):
        cells += [(hops[i % len(hops)], length) for i in range(int(share // length))]
    if not cells:
        raise ValueError(f"a budget of {tokens} tokens holds no document of {min(lengths)} tokens")
    return cells


def items_for(cells: list[tuple[int, int]], seed: int, start: int = 0) -> list[Problem]:
    """One item per cell, numbered from ``start`` (so train and dev ids never collide)."""
    rng = random.Random(seed)
    return [make_item(start + i, h, ln, rng) for i, (h, ln) in enumerate(cells)]


#: Tokens per needle_haystack statement ("Tayo accepts the color red."), to size its haystacks.
NEEDLE_STATEMENT_TOKENS = 6


def needle_items(n: int, seed: int, lengths: tuple[int, ...]) -> list[Problem]:
    """reasoning-gym's ``needle_haystack``: one fact among many alike, written by no one here; its own group.

    The haystack becomes the document and the last line the question, so every arm reads it as it reads
    the generated items; ``length`` is the haystack size asked for, cycling through ``lengths``.
    """
    import reasoning_gym

    out = []
    for i in range(n):
        length = lengths[i % len(lengths)]
        statements = max(10, length // NEEDLE_STATEMENT_TOKENS)
        [entry] = list(reasoning_gym.create_dataset("needle_haystack", min_num_statements=statements,
                                                    max_num_statements=statements, size=1, seed=seed * 1000 + i))
        haystack, _, question = entry["question"].rstrip().rpartition("\n")
        question = question.strip().replace("Reply only with a name.", "Answer with the name only.")
        out.append(Problem(id=f"needle-{seed}-{i}", domain="text", prompt=question,
                           context=haystack.strip(), gold=str(entry["answer"]),
                           meta={"hops": 1, "length": length, "answer_type": "name", "source": "needle_haystack"}))
    return out
