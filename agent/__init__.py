"""mnemos' agent: engine, controller, batch runner, CLI and the Python API."""

from agent.api import Agent
from agent.config import Settings

__all__ = ["Agent", "Settings"]
