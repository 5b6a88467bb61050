"""Which machines ran an evaluation, kept beside it as ``runs/NAME/machine.json``.

Seconds per problem mean little without the CPU they were measured on, and an
evaluation may be resumed on other machines (``mnemos archive``), so every
machine that worked on it is listed once, in the order first seen.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from agent.engine.cpu_plan import native_bf16

MACHINE_FILE = "machine.json"


class Machine(BaseModel):
    cpu: str = Field(description="The CPU's model name (/proc/cpuinfo), else the architecture.")
    cores: int | None = None
    arch: str = ""
    native_bf16: bool | None = Field(None, description="AVX512-BF16 or AMX: the CPU engine runs bf16; without it "
                                     "float32, several times slower (agent.engine.cpu_plan).")
    gpu: str | None = Field(None, description="CUDA device 0, where torch was loaded and saw one.")
    first_seen: float | None = Field(None, description="Unix time this machine first worked on the evaluation.")

    def same_as(self, other: Machine) -> bool:
        return (self.cpu, self.cores, self.arch, self.gpu) == (other.cpu, other.cores, other.arch, other.gpu)


class MachineLog(BaseModel):
    machines: list[Machine] = Field(default_factory=list)


def this_machine(cpuinfo: str | None = None) -> Machine:
    """This machine; torch is asked about a GPU only if something already imported it (no import for this)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    gpu = None
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                gpu = str(torch.cuda.get_device_name(0))
        except Exception:  # noqa: BLE001 - a broken CUDA setup is no reason to fail an evaluation
            gpu = None
    return Machine(cpu=names[0] if names else (platform.processor() or platform.machine()), cores=os.cpu_count(),
                   arch=platform.machine(), native_bf16=native_bf16(cpuinfo) if cpuinfo else None, gpu=gpu)


def recorded_machines(eval_dir: Path) -> list[Machine]:
    path = Path(eval_dir) / MACHINE_FILE
    return MachineLog.model_validate_json(path.read_text()).machines if path.is_file() else []


def record_machine(eval_dir: Path, machine: Machine | None = None) -> list[Machine]:
    """Add ``machine`` (default: this one) to the evaluation's list unless it is there already."""
    machine = machine or this_machine()
    seen = recorded_machines(eval_dir)
    if any(m.same_as(machine) for m in seen):
        return seen
    seen.append(machine.model_copy(update={"first_seen": machine.first_seen or time.time()}))
    path = Path(eval_dir) / MACHINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(MachineLog(machines=seen).model_dump_json(indent=2))
    partial.replace(path)
    return seen
