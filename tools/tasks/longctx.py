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
#: Context lengths (tokens, estimated at 1.3 per word) and hop counts of a default set.
LENGTHS = (2000, 4000, 8000, 12000)
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
                   meta={"hops": hops, "length": length, "answer_type": kind})


def generate(n: int, seed: int = 0, lengths: tuple[int, ...] = LENGTHS, hops: tuple[int, ...] = HOPS) -> list[Problem]:
    """``n`` items cycling through every (hops, length) cell, so each bucket gets its share."""
    rng = random.Random(seed)
    cells = [(h, ln) for ln in lengths for h in hops]
    return [make_item(i, *cells[i % len(cells)], rng) for i in range(n)]
