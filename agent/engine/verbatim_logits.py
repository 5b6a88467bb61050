"""vLLM V1 logits processor enforcing :class:`VerbatimSpanTracker` on requests that ask for it.

Register at engine construction:
``Engine(..., logits_processors=["agent.engine.verbatim_logits:VerbatimCopyLogitsProcessor"])``.
A request opts in by carrying ``extra_args={EXTRA_KEY: copy_spec(...)}`` (in-process) or
``vllm_xargs={EXTRA_KEY: json.dumps(copy_spec(...))}`` (over HTTP, to a server started with
``--logits-processors``); all other requests pass through untouched. This module imports vLLM and torch, so
the controller only names it by path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from agent.engine.verbatim_span import EXTRA_KEY, VerbatimSpanTracker, read_spec


def mask_to(logits: torch.Tensor, allowed: list[int]) -> torch.Tensor:
    idx = torch.tensor([i for i in allowed if 0 <= i < logits.shape[-1]], dtype=torch.long, device=logits.device)
    out = torch.full_like(logits, float("-inf"))
    out[idx] = logits[idx]
    return out


class VerbatimCopyLogitsProcessor(AdapterLogitsProcessor):
    """Per-request verbatim copy constraint (RecaLLM), applied row by row."""

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        spec = read_spec(sampling_params.extra_args)
        if spec is None:
            return
        if not isinstance(spec, dict) or not spec.get("source_ids") or not spec.get("end_ids"):
            raise ValueError(f"extra_args[{EXTRA_KEY!r}] needs non-empty 'source_ids' and 'end_ids'")

    def is_argmax_invariant(self) -> bool:
        return False

    def new_req_logits_processor(self, params: SamplingParams) -> Callable[[list[int], torch.Tensor], torch.Tensor] | None:
        spec = read_spec(params.extra_args)
        if not spec:
            return None
        tracker = VerbatimSpanTracker(spec["source_ids"], spec["end_ids"], spec.get("max_span", 128),
                                      spec.get("banned_ids", ()))

        def apply(output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
            return mask_to(logits, tracker.allowed(output_ids))

        return apply
