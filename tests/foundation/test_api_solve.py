"""Agent.solve: the controller on a scripted model, recorded through the real memory store."""

from agent.api import Agent
from tests.fakes import ScriptedGenerator


def test_solve_records_an_episode_and_resumes_threads(settings) -> None:
    settings = settings.model_copy(update={"prime_recall": False, "memory_mode": "frozen"})
    llm = ScriptedGenerator(["<recall>blue vault</recall>", "The vault has 412 maps. <answer>412</answer>"])
    with Agent(settings, llm=llm) as agent:
        result = agent.solve("How many maps are in the blue vault?",
                             context="The red vault holds 97 maps. The blue vault holds 412 maps. Rain fell.",
                             thread_id="t1")
        assert result.answer == "412"
        assert any("412" in ev.text for ev in result.trace.evidence)
        episode = agent.memory.episodes.get(result.episode_id)
        assert episode.run_id == "api" and episode.answer == "412"
        assert episode.trace["path"] == result.trace.path
        calls = len(llm.prompts)
        again = agent.solve("How many maps are in the blue vault?",
                            context="The red vault holds 97 maps. The blue vault holds 412 maps. Rain fell.",
                            thread_id="t1")
        assert again.answer == "412" and len(llm.prompts) == calls  # finished thread: nothing regenerated
