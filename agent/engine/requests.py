"""mnemos' request parameters in vLLM's terms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.llm import GenParams

if TYPE_CHECKING:
    from vllm import SamplingParams


def sampling_params(params: GenParams, *, stream: bool = False, request_seed: bool = True) -> SamplingParams:
    """Stop strings, structured outputs (choice/regex) and logits-processor args as vLLM takes them.

    ``request_seed=False`` leaves a request's seed out: vLLM's CPU worker crashes the engine when a
    seeded request's prefill is split across steps ("CPU Generator does not use offset", vLLM 0.32),
    so on CPU sampled requests draw from the engine's generator, seeded once with ``Settings.seed``.
    """
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    structured = None
    if params.choice is not None or params.regex is not None:
        structured = StructuredOutputsParams(choice=params.choice, regex=params.regex)
    return SamplingParams(
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        stop=list(params.stop) or None,
        include_stop_str_in_output=params.include_stop,
        seed=params.seed if request_seed else None,
        structured_outputs=structured,
        extra_args=params.extra_args,
        output_kind=RequestOutputKind.DELTA if stream else RequestOutputKind.FINAL_ONLY,
    )
