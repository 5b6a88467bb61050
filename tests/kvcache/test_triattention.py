"""kv_policy=triattention: who may turn the plugin on, with what environment, and the errors otherwise.

The plugin itself needs a CUDA GPU and is not on the package registries, so these tests cover
the wiring (validation, environment, controller budgets, doctor); running it is a GPU-only check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import Settings
from agent.controller.context import kv_limits
from agent.engine import kv_plugin_env
from kvcache.errors import KVBudgetError
from kvcache.triattention import SWITCH, TriAttentionUnavailable, configure


@pytest.fixture
def stats(tmp_path: Path) -> Path:
    path = tmp_path / "qk_stats.pt"
    path.write_bytes(b"not read by mnemos")
    return path


def test_config_maps_to_the_plugin_environment(stats: Path) -> None:
    env = configure(device="cuda", budget=2048, stats=stats, max_context=32768, installed=True).env()
    assert env[SWITCH] == "true"
    assert env["TRIATTN_RUNTIME_KV_BUDGET"] == "2048"
    assert env["TRIATTN_RUNTIME_SPARSE_STATS_PATH"] == str(stats)
    assert env["TRIATTN_RUNTIME_PROTECT_PREFILL"] == "true"


def test_cpu_engine_is_refused_with_the_cpu_alternatives(stats: Path) -> None:
    with pytest.raises(TriAttentionUnavailable, match="CUDA.*kv_policy=fp8.*kv_policy=fold"):
        configure(device="cpu", budget=2048, stats=stats, max_context=4096, installed=True)


def test_missing_plugin_is_named(stats: Path) -> None:
    with pytest.raises(TriAttentionUnavailable, match="not installed.*vllm.general_plugins"):
        configure(device="cuda", budget=2048, stats=stats, max_context=4096, installed=False)


@pytest.mark.parametrize(
    ("budget", "message"),
    [(None, "needs --kv-budget"), (64, "smaller than the tokens it must always keep"), (9000, "larger than the model's context")],
)
def test_bad_budgets(stats: Path, budget: int | None, message: str) -> None:
    with pytest.raises(KVBudgetError, match=message):
        configure(device="cuda", budget=budget, stats=stats, max_context=4096, installed=True)


def test_statistics_are_required_and_must_exist(tmp_path: Path) -> None:
    with pytest.raises(KVBudgetError, match="--triattention-stats"):
        configure(device="cuda", budget=1024, stats=None, max_context=4096, installed=True)
    with pytest.raises(KVBudgetError, match="not found"):
        configure(device="cuda", budget=1024, stats=tmp_path / "absent.pt", max_context=4096, installed=True)


def test_other_policies_switch_an_installed_plugin_off(tmp_path: Path) -> None:
    for policy in ("full", "fp8", "fold"):
        assert kv_plugin_env(Settings(home=tmp_path, kv_policy=policy)) == {SWITCH: "false"}


def test_engine_settings_refuse_triattention_on_this_cpu_box(tmp_path: Path, stats: Path) -> None:
    settings = Settings(home=tmp_path, kv_policy="triattention", kv_budget=1024, triattention_stats=stats, device="cpu")
    with pytest.raises(TriAttentionUnavailable, match="runs on cpu"):
        kv_plugin_env(settings)


def test_controller_leaves_the_budget_to_the_engine(tmp_path: Path, stats: Path) -> None:
    """With in-engine eviction the live context may outgrow kv_budget, so the controller must not cap it."""
    common = {"home": tmp_path, "kv_budget": 1024, "triattention_stats": stats}
    assert kv_limits(Settings(kv_policy="triattention", **common)) == (None, False)
    assert kv_limits(Settings(kv_policy="full", **common)) == (1024, False)
    assert kv_limits(Settings(kv_policy="fold", **common)) == (1024, True)
