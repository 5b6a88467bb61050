"""The embedded model on the transformers path, loaded once for the kvcache tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch


@pytest.fixture(scope="session")
def hf_model(embedded_model_dir: Path) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(embedded_model_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def prompt_ids(embedded_model_dir: Path) -> torch.Tensor:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(embedded_model_dir)
    text = "Count the apples step by step: Anna has three apples, Ben gives her four more, and she eats two."
    return tok(text, return_tensors="pt").input_ids
