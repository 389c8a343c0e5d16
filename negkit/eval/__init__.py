"""Evaluation: the Evaluator contract, EvalContext and shared metrics."""

from negkit.eval.base import EvalContext, Evaluator

__all__ = ["EvalContext", "Evaluator"]
