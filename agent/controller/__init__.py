"""The LangGraph controller: thinking interleaved with evidence recall, procedural retrieval and memory updates.

Public API: :class:`Controller`, :class:`SolveResult`, :class:`Trace`.
"""

from agent.controller.controller import Controller
from agent.controller.state import SolveResult, Trace

__all__ = ["Controller", "SolveResult", "Trace"]
