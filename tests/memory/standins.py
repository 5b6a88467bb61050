"""Stand-ins shared by the memory tests and the writer subprocesses they start."""

from __future__ import annotations

import numpy as np


class ConstantEncoder:
    """Every text maps to the same unit vector: for tests where similarity merging is off and only keys matter."""

    dim = 8
    fingerprint = "constant-8"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1.0
        return out
