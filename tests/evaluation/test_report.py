

def test_stream_thirds_is_accuracy_on_each_third_in_stream_order_over_what_was_scored() -> None:
    from types import SimpleNamespace

    from agent.evaluation.report import stream_thirds

    stream = [SimpleNamespace(id=f"p{i}") for i in range(7)]
    scores = {"p0": 0.0, "p1": 0.0, "p2": 1.0, "p3": 1.0, "p4": 1.0, "p5": 1.0, "p6": 0.0}
    assert stream_thirds(stream, scores) == [0.0, 1.0, 2 / 3]  # thirds of 7: 2, 2, 3 problems
    del scores["p6"]
    assert stream_thirds(stream, scores) == [0.0, 1.0, 1.0]
