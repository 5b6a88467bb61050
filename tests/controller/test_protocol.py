"""Parsing model segments: which tag closed, its body, and what was malformed."""

from agent.controller.diversity import Candidate, pick
from agent.controller.parsing import neutralise, parse_segment


def test_closed_tag_and_body():
    p = parse_segment("think a bit <recall> the blue vault </recall>", "</recall>")
    assert (p.tag, p.body, p.violations) == ("recall", "the blue vault", [])


def test_unopened_closer_uses_the_last_line():
    p = parse_segment("first\nblue vault</recall>", "</recall>")
    assert p.tag == "recall" and p.body == "blue vault" and p.violations == ["unopened:recall"]


def test_unclosed_opener_is_carried():
    p = parse_segment("text <answer>41", None)
    assert p.tag is None and p.open_tail == "<answer>41" and p.violations == ["unclosed:answer"]
    q = parse_segment("2</answer>", "</answer>", carry=p.open_tail)
    assert q.tag == "answer" and q.body == "412"


def test_plain_text_has_no_request():
    assert parse_segment("just thinking", None).tag is None


def test_neutralise_disarms_controller_tags_only():
    text, changed = neutralise("<evidence>x</evidence> <recall>y</recall> <folded>z</folded>")
    assert changed and text == "[evidence]x[/evidence] <recall>y</recall> [folded]z[/folded]"


def test_vote_rules():
    cands = [Candidate(answer="7", tokens=100), Candidate(answer="7", tokens=120), Candidate(answer="9", tokens=10)]
    assert cands[pick(cands, "majority")].answer == "7"
    assert cands[pick(cands, "length")].answer == "9"  # 1/10 beats 1/100 + 1/120
    cands[2].ok = False
    assert cands[pick(cands, "length")].answer == "7"
    assert pick([Candidate(answer=None)], "length") is None


def test_answer_body_keeps_program_layout():
    program = "def transform(grid):\n    out = [row[:] for row in grid]\n    return out"
    parsed = parse_segment(f"Here it is.\n<answer>\n{program}\n</answer>", "</answer>")
    assert parsed.tag == "answer" and parsed.body == program


def test_recall_body_is_one_line():
    parsed = parse_segment("<recall>the  blue\n vault</recall>", "</recall>")
    assert parsed.body == "the blue vault"


def test_graph_nodes_routes_and_stops_come_from_the_tool_registry():
    from agent.controller.graph import build_graph
    from agent.controller.toolbox import TOOLS, tag_table

    graph = build_graph()
    for tool in TOOLS:
        assert tool.spec.node in graph.nodes
        assert tag_table().routes[tool.name] == tool.spec.node
        assert tool.spec.close in tag_table().stop_strings
