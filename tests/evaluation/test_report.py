

def test_stream_thirds_is_accuracy_on_each_third_in_stream_order_over_what_was_scored() -> None:
    from types import SimpleNamespace

    from agent.evaluation.report import stream_thirds

    stream = [SimpleNamespace(id=f"p{i}") for i in range(7)]
    scores = {"p0": 0.0, "p1": 0.0, "p2": 1.0, "p3": 1.0, "p4": 1.0, "p5": 1.0, "p6": 0.0}
    assert stream_thirds(stream, scores) == [0.0, 1.0, 2 / 3]  # thirds of 7: 2, 2, 3 problems
    del scores["p6"]
    assert stream_thirds(stream, scores) == [0.0, 1.0, 1.0]


def _episode(i: int, calls: list[dict[str, object]]) -> object:
    from memory.schemas import Episode

    return Episode(id=i, problem_id=f"p{i}", input="q", trace={"tool_calls": calls})


def test_trials_and_checks_are_read_from_figures_and_from_the_text_of_traces_written_before_figures() -> None:
    from agent.controller.trials import TrialResult
    from agent.evaluation.report import memory_trials, procedure_training

    old = TrialResult(concept="Dates", with_concept=5, without=2, n=8, admitted=True)
    new = TrialResult(concept="Sums", with_concept=1, without=2, n=8, admitted=False)
    episodes = [
        _episode(1, [{"kind": "concept_trial", "input": "Dates", "output": old.summary(), "ok": True},
                     {"kind": "procedure_sample", "input": "greedy\n", "output": "here ok, check 3/3", "ok": True}]),
        _episode(2, [{"kind": "concept_trial", "input": "Sums", "output": "", "ok": False, "figures": new.figures()},
                     {"kind": "procedure_sample", "input": "greedy\n", "output": "", "ok": True,
                      "figures": {"check_passed": 2, "check_n": 3}},
                     {"kind": "procedure_sample", "input": "sample\n", "output": "", "ok": False,
                      "figures": {"check_passed": 4, "check_n": 4}}]),
    ]
    assert memory_trials(episodes) == [  # type: ignore[arg-type]
        {"problem_id": "p1", "concept": "Dates", "with": 5, "without": 2, "n": 8, "admitted": True},
        {"problem_id": "p2", "concept": "Sums", "with": 1, "without": 2, "n": 8, "admitted": False},
    ]
    training = procedure_training(episodes)  # type: ignore[arg-type]
    assert training is not None and training["programs"] == 3 and training["general"] == 2
