"""mnemos' request parameters in vLLM's terms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.llm import GenParams

if TYPE_CHECKING:
    from vllm import SamplingParams


def sampling_params(params: GenParams, *, stream: bool = False) -> SamplingParams:
    """Stop strings, structured outputs (choice/regex) and logits-processor args as vLLM takes them."""
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
        seed=params.seed,
        structured_outputs=structured,
        extra_args=params.extra_args,
        output_kind=RequestOutputKind.DELTA if stream else RequestOutputKind.FINAL_ONLY,
    )
