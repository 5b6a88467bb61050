"""The one configuration model for mnemos.

Values come, in increasing priority, from defaults, a TOML file
(``$MNEMOS_HOME/config.toml`` or ``--config``), ``MNEMOS_*`` environment
variables and CLI flags. Everything else receives plain values from here, so
no other module reads the environment.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent.embedded import DEFAULT_MODEL
from agent.engine.cpu_plan import CpuSettings
from kvcache.budget import EnginePolicy as KVPolicy

log = logging.getLogger(__name__)

MemoryMode = Literal["off", "frozen", "learning"]
RecallMode = Literal["controller", "model-copy"]
SolveMode = Literal["inject", "diversity"]


def default_home() -> Path:
    """``$MNEMOS_HOME`` or the XDG data directory, so state lives where users expect it."""
    if env := os.environ.get("MNEMOS_HOME"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "mnemos"


def default_cache() -> Path:
    """Converted models are derived data, so they go to the XDG cache, not the data dir."""
    if env := os.environ.get("MNEMOS_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mnemos"


class Budgets(BaseModel):
    """The controller's per-attempt limits; spending one ends the attempt with ``budget:<field>``.

    Nested so one name serves everywhere: ``settings.budgets.recalls`` in code,
    ``[budgets] recalls = 2`` in TOML, ``MNEMOS_BUDGETS__RECALLS=2`` in the environment.
    """

    model_config = ConfigDict(extra="forbid")

    tokens: int = Field(2048, gt=0, description="Generated tokens per attempt.")
    segments: int = Field(8, gt=0, description="Generated segments per attempt.")
    recalls: int = Field(4, ge=0, description="<recall> requests served per attempt.")
    retrievals: int = Field(4, ge=0, description="<subq> requests served per attempt.")
    tool_calls: int = Field(4, ge=0, description="<python> runs per attempt (sandboxed arithmetic tool).")
    retries: int = Field(2, ge=0, description="Attempts after the first when a verifier rejects the answer.")
    segment_tokens: int = Field(512, gt=0, description="Max tokens of one generated segment.")
    concept_shortlist: int = Field(16, gt=0, description="Concepts shortlisted by embedding before the choice.")
    subroutine_top_k: int = Field(3, gt=0, description="Stored procedures offered per <subq>.")
    repeat_recalls: int = Field(2, ge=1, description="Identical recalls tolerated before the trace ends as a loop.")
    evidence_spans: int = Field(3, gt=0, description="Spans inserted per recall.")
    prime_hops: int = Field(2, ge=0, description="Hops the primed passages follow: after the question's own "
                            "passages, those naming who or what the best of them introduced (two spans a hop).")
    force_answer_tokens: int = Field(64, gt=0, description="Max tokens of a forced final answer.")
    force_program_tokens: int = Field(1024, gt=0, description="Max tokens of a forced final ARC program.")
    min_relevance: float = Field(0.5, ge=-1, le=1, description="Cosine similarity a stored concept or procedure "
                                 "needs before it is offered; below it nothing is shown.")
    fold_keep_parts: int = Field(2, ge=0, description="Most recent transcript parts never folded.")
    copy_span_tokens: int = Field(128, gt=0, description="Hard cap on a model-copied evidence span (RecaLLM's 128).")
    procedures_shown: int = Field(3, ge=0, description="Stored procedures shown to the model per problem, where "
                                  "the family has no check to apply them with.")
    procedure_portfolio: int = Field(32, ge=0, description="Active procedures kept per family; where the family has a "
                                     "check, each is applied (its answer checked) before any reasoning, at no "
                                     "generation cost.")
    procedure_top_k: int = Field(3, ge=0, description="Stored procedures retrieved and run per problem where one "
                                 "store holds many families (chosen by how alike their problems read).")
    procedure_samples: int = Field(4, ge=0, description="Programs sampled (besides the greedy one) when learning "
                                   "procedures on a problem memory did not solve.")
    procedure_repairs: int = Field(1, ge=0, description="Rounds of repair (the best program so far shown where it "
                                   "fails) after the written ones neither solve the problem nor beat what is stored.")
    procedure_tokens: int = Field(512, gt=0, description="Max tokens of one written or repaired procedure.")
    procedure_checks: int = Field(24, gt=0, description="Training problems a new procedure is cross-checked on.")
    concept_trial_problems: int = Field(8, ge=0, description="Held training problems of its family a new concept "
                                        "is tried on, solved once without and once with it shown.")
    concept_trial_tokens: int = Field(384, gt=0, description="Max tokens of one trial solve (the family's own cap, "
                                      "if smaller, wins).")
    concept_min_gain: int = Field(2, ge=1, description="How many more of those held problems the model must solve "
                                  "with a new concept shown than without it, for the concept to be stored.")
    learn_rounds: int = Field(0, ge=0, description="Learning rounds (new programs asked for where none stored "
                              "answered) that may come to nothing on one family before a learning arm stops asking "
                              "for that family and answers from what memory holds; 0: no limit. 8 gives the "
                              "learning arm the training's budget of 8 problems a family, and bounds its cost on "
                              "families the model writes no program for (gym-r3: 8,100 tokens a problem).")
    procedure_distill: bool = Field(False, description="Ask the model to rewrite a right answer (a training "
                                    "problem's reference, a checked answer of its own, or, on a cold start "
                                    "without either, a practice problem's) as a function of the "
                                    "inputs. Off: the 1.5B model's rewrites solved 0 of 36 of their own puzzles "
                                    "(docs/results/procedure_distill.json).")


class Settings(BaseSettings):
    """All user-facing knobs, with the defaults that work on a 2-core CPU box."""

    model_config = SettingsConfigDict(env_prefix="MNEMOS_", env_nested_delimiter="__", extra="forbid",
                                      validate_default=True)

    home: Path = Field(default_factory=default_home, description="Data directory (database, indexes, runs).")
    cache_dir: Path = Field(default_factory=default_cache, description="Where converted models are cached.")
    model: str = Field(DEFAULT_MODEL, description="A named model (`mnemos models` lists them) or a local "
                       "Hugging Face checkpoint directory.")
    embedder: Path | None = Field(None, description="sentence-transformers model dir; None = embedded all-MiniLM-L6-v2.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: str = Field("auto", description="Model dtype passed to vLLM (auto, bfloat16, float16, float32).")
    max_model_len: int | None = Field(None, gt=0, description="Max context (prompt + output) in tokens; None = the "
                                      "model's own, capped at 16384 (holds 99% of ARC-AGI-1 evaluation prompts).")
    kv_cache_gib: float | None = Field(None, gt=0, description="KV cache space in GiB (CPU engine); None = planned "
                                       "for four full-context sequences (at least 2 GiB).")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    enforce_eager: bool = True
    cpu: CpuSettings = Field(default_factory=CpuSettings, description="CPU engine: reserved cores, thread "
                             "binding, preloaded libraries; unset values are chosen from the machine.")
    max_num_seqs: int = Field(32, gt=0, description="Max concurrent sequences in the engine.")
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, gt=0, description="Default max new tokens per generation.")
    seed: int = 0
    database_url: str | None = Field(None, description="SQLAlchemy URL; None = SQLite file in home.")
    engine_url: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="vLLM OpenAI-compatible servers to generate on instead of an in-process "
        "engine (`mnemos serve` starts one): a URL like http://host:8000/v1, or several, comma-separated; requests "
        "go to the least-loaded one.")
    api_key: SecretStr | None = Field(None, description="Bearer key for the engine servers (MNEMOS_API_KEY); "
                                      "never logged or stored.")
    engine_max_in_flight: int = Field(64, gt=0, description="Requests in flight to the engine servers at once, "
                                      "all servers together (a batch saturates them without flooding them).")
    engine_timeout_s: float = Field(600.0, gt=0, description="Seconds one server request may take before it "
                                    "counts as hung and is retried elsewhere.")
    engine_retry_s: float = Field(120.0, ge=0, description="Seconds a request keeps being retried across failing "
                                  "servers (with backoff) before its problem is recorded as an error.")
    memory_mode: MemoryMode = "learning"
    kv_budget: int | None = Field(None, gt=0, description="Token budget for a trace's live context; None = model context.")
    kv_policy: KVPolicy = Field("full", description="full | fp8 (quantised KV in vLLM) | fold (thought folding) | "
                                "triattention (decoding-time eviction in vLLM; CUDA + plugin only).")
    triattention_stats: Path | None = Field(None, description="Q/K frequency statistics (.pt) for kv_policy=triattention.")
    recall_mode: RecallMode = "controller"
    budgets: Budgets = Field(default_factory=Budgets, description="Per-attempt limits of the controller.")
    solve_mode: SolveMode = Field("inject", description="inject top-k subroutines into one trace, or "
                                  "diversity: one trace per retrieved subroutine, then vote.")
    diversity_vote: Literal["length", "majority"] = "length"
    copy_mechanism: Literal["sentence", "token"] = Field(
        "sentence", description="model-copy recall: sentence choice (structured outputs) or token-level logits processor.")
    fallback_solve: bool = Field(True, description="Reason with the graph when stored and newly learned procedures "
                                 "give no checked answer (off for a training pass, where only the learning counts).")
    prime_recall: bool = Field(True, description="Fetch evidence and procedures for the question before the first segment.")
    offer_tools: list[str] = Field(
        ["subq"], description="Tool tags the model is told about (the tools registered in "
        "agent/controller/toolbox: recall, subq, python), each only where it applies (recall: the "
        "problem has a document; subq: stored procedures clear min_relevance). python is off by default: on GSM8K "
        "tuning problems its mere mention changed the 1.5B model's reasoning without being used and cost accuracy. "
        "recall is off by default: on 19 long-document pilot items (rc-p2) the 1.5B model, offered it, recalled a "
        "primed sentence back and answered from the last passage shown in ~20 tokens; without it (rc-p3) it "
        "reasoned ~90 tokens from the primed passages, equally accurate (13/19 each, the model alone 10/19). The "
        "passages are primed either way (prime_recall).")

    @field_validator("engine_url", mode="before")
    @classmethod
    def _split_urls(cls, v: Any) -> Any:
        from agent.engine.served import normalize_url

        if isinstance(v, str):
            v = [u for u in re.split(r"[,\s]+", v) if u]
        return [normalize_url(u) for u in v] if isinstance(v, list) else v

    @field_validator("home", "cache_dir", "embedder", "triattention_stats", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @field_validator("home", mode="after")
    @classmethod
    def _home_is_a_directory(cls, v: Path) -> Path:
        if v.exists() and not v.is_dir():
            raise ValueError(f"data directory {v} exists and is not a directory (--home / MNEMOS_HOME)")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'mnemos.db'}"

    @property
    def index_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Build settings; ``overrides`` are CLI flags (None values are ignored).

        Unknown ``MNEMOS_*`` variables and a ``MNEMOS_CONFIG`` that names no file are
        logged as warnings: both are usually typos that would otherwise be ignored silently.
        """
        if config_file is not None:
            if not config_file.is_file():
                raise FileNotFoundError(f"config file not found: {config_file}")
            os.environ["MNEMOS_CONFIG"] = str(config_file)
        for warning in environment_warnings(os.environ):
            log.warning("%s", warning)
        return cls(**{k: v for k, v in overrides.items() if v is not None})


def _config_file() -> Path:
    if env := os.environ.get("MNEMOS_CONFIG"):
        return Path(env).expanduser()
    return default_home() / "config.toml"


#: ``MNEMOS_*`` variables that are not Settings fields: paths read above, and the install/test scripts' own.
OTHER_VARIABLES = frozenset({"MNEMOS_CACHE", "MNEMOS_CONFIG", "MNEMOS_ENGINE", "MNEMOS_VENV", "MNEMOS_MODELS",
                             "MNEMOS_TEST_PG_URL", "MNEMOS_ENGINE_OWNER"})
_OTHER_PREFIXES = ("MNEMOS_PG_",)


def _known_variable(name: str) -> bool:
    if name in OTHER_VARIABLES or name.startswith(_OTHER_PREFIXES):
        return True
    field, _, nested = name.removeprefix("MNEMOS_").lower().partition("__")
    info = Settings.model_fields.get(field)
    if info is None:
        return False
    if not nested:
        return True
    sub = info.annotation
    return isinstance(sub, type) and issubclass(sub, BaseModel) and nested in sub.model_fields


def environment_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line per ``MNEMOS_*`` variable that nothing reads, and for a ``MNEMOS_CONFIG`` that names no file."""
    warnings = []
    known = [f"MNEMOS_{f.upper()}" for f in Settings.model_fields] + sorted(OTHER_VARIABLES)
    for name in sorted(n for n in environ if n.startswith("MNEMOS_")):
        if not _known_variable(name):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"ignoring unknown environment variable {name}{hint}")
    config = environ.get("MNEMOS_CONFIG")
    if config and not Path(config).expanduser().is_file():
        warnings.append(f"MNEMOS_CONFIG names {config}, which is not a file; no config file is read")
    return warnings
