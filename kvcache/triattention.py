"""TriAttention as true decoding-time eviction inside vLLM, behind ``kv_policy="triattention"``.

Upstream vLLM cannot evict tokens from a running request; the TriAttention plugin
(Mao et al. 2026, "Efficient Long Reasoning with Trigonometric KV Compression")
can, on CUDA builds only. It scores keys from precomputed pre-RoPE Q/K frequency
statistics and keeps a fixed per-request token budget. The plugin registers itself
through vLLM's ``vllm.general_plugins`` entry point and is configured by
environment variables, which the engine-core process inherits.

It is not on the package registries, so the default install never has it. This
module only decides whether it can run and what environment turns it on or off;
once installed it activates on *every* engine, so mnemos switches it off
explicitly unless this policy was chosen.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kvcache.budget import check_token_budget
from kvcache.errors import KVBudgetError

PLUGIN_GROUP = "vllm.general_plugins"
PLUGIN_NAME = "triattention"
SWITCH = "ENABLE_TRIATTENTION"


class TriAttentionUnavailable(RuntimeError):
    """The plugin cannot run here (no GPU, not installed); the message says what to do instead."""


class TriAttentionConfig(BaseModel):
    """The plugin's knobs, named as mnemos spells them; ``env()`` maps them to the plugin's variables."""

    model_config = ConfigDict(frozen=True)

    budget: int = Field(gt=0, description="Tokens kept in the KV cache per request.")
    stats: Path = Field(description="Precomputed Q/K frequency statistics (.pt) for this model.")
    window: int = Field(128, gt=0, description="Most recent tokens always kept.")
    divide: int = Field(128, gt=0, description="Compress every this many new tokens.")
    protect_prompt: bool = Field(True, description="Never evict prompt tokens (concepts, evidence, problem).")

    def env(self) -> dict[str, str]:
        return {
            SWITCH: "true",
            "TRIATTN_RUNTIME_KV_BUDGET": str(self.budget),
            "TRIATTN_RUNTIME_WINDOW_SIZE": str(self.window),
            "TRIATTN_RUNTIME_DIVIDE_LENGTH": str(self.divide),
            "TRIATTN_RUNTIME_SPARSE_STATS_PATH": str(self.stats),
            "TRIATTN_RUNTIME_PROTECT_PREFILL": "true" if self.protect_prompt else "false",
            "TRIATTN_RUNTIME_PRUNING_MODE": "per_head",
        }


def plugin_installed() -> bool:
    """Whether vLLM would load the plugin (its entry point is registered)."""
    return any(ep.name == PLUGIN_NAME for ep in entry_points(group=PLUGIN_GROUP))


def disabled_env() -> dict[str, str]:
    """Environment that keeps an installed plugin from compressing an engine that did not ask for it."""
    return {SWITCH: "false"}


def configure(
    *, device: str, budget: int | None, stats: Path | None, max_context: int | None, installed: bool | None = None
) -> TriAttentionConfig:
    """Validate a ``triattention`` request and return its config, or say precisely why it cannot run."""
    if device != "cuda":
        raise TriAttentionUnavailable(
            f"kv_policy=triattention needs vLLM's CUDA attention path; this engine runs on {device}. "
            "On CPU use kv_policy=fp8 (quantised KV) or kv_policy=fold (thought folding)"
        )
    if not (plugin_installed() if installed is None else installed):
        raise TriAttentionUnavailable(
            "kv_policy=triattention needs the TriAttention vLLM plugin, which is not installed "
            f"(no '{PLUGIN_NAME}' entry point in '{PLUGIN_GROUP}'). It is not on PyPI: install it from "
            "its source repository (the TriAttention_vLLM package) into this environment"
        )
    if budget is None:
        raise KVBudgetError("kv_policy=triattention needs --kv-budget (tokens kept per request)")
    window = TriAttentionConfig.model_fields["window"].default
    check_token_budget(budget, protected=window + 1, max_context=max_context, policy="triattention")
    if stats is None:
        raise KVBudgetError(
            "kv_policy=triattention needs --triattention-stats: the model's precomputed Q/K frequency statistics "
            "(.pt, made by the plugin's calibration script)"
        )
    if not stats.is_file():
        raise KVBudgetError(f"triattention: statistics file not found: {stats}")
    return TriAttentionConfig(budget=budget, stats=stats)
