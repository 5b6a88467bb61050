"""Ablations: one problem set, several arms (model alone, controller, memory), compared per problem."""

from agent.evaluation.arms import ARMS, Arm, parse_arms
from agent.evaluation.report import ArmResult, EvalReport
from agent.evaluation.runner import EvalOptions, EvalOutcome, run_eval
from tools.domains.split import Split, SplitRecord

__all__ = ["ARMS", "Arm", "ArmResult", "EvalOptions", "EvalOutcome", "EvalReport", "Split", "SplitRecord",
           "parse_arms", "run_eval"]
