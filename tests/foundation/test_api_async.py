"""The async Python API, and the sync one as a thin layer over it."""

import asyncio

import pytest

from agent.api import Agent
from tests.fakes import ScriptedGenerator


def test_concurrent_asolves_share_one_agent_and_are_recorded(settings) -> None:
    settings = settings.model_copy(update={"prime_recall": False, "memory_mode": "off"})

    def answer(prompt, params):
        for n in ("97", "412"):
            if f"holds {n} maps" in prompt:
                return f"<answer>{n}</answer>"
        return "<answer>0</answer>"

    with Agent(settings, llm=ScriptedGenerator(answer)) as agent:
        async def both():
            return await asyncio.gather(agent.asolve("How many maps?", context="The red vault holds 97 maps."),
                                        agent.asolve("How many maps?", context="The blue vault holds 412 maps."))

        red, blue = asyncio.run(both())
        assert (red.answer, blue.answer) == ("97", "412")
        assert agent.memory.episodes.get(red.episode_id).answer == "97"
        assert agent.memory.episodes.get(blue.episode_id).answer == "412"


def test_achat_keeps_history_like_chat(settings) -> None:
    llm = ScriptedGenerator(["Hello there.", "Paris."])
    agent = Agent(settings, llm=llm)
    assert asyncio.run(agent.achat("hi")) == "Hello there."
    assert agent.chat("capital of France?") == "Paris."
    assert "Hello there." in llm.prompts[1]
    assert [m.role for m in agent.history] == ["user", "assistant", "user", "assistant"]


def test_sync_call_inside_a_loop_points_to_the_async_method(settings) -> None:
    agent = Agent(settings, llm=ScriptedGenerator(["x"]))

    async def misuse():
        agent.chat("hi")

    with pytest.raises(RuntimeError, match=r"await Agent.achat"):
        asyncio.run(misuse())
