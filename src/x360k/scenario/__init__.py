"""Scenario files: a few guest threads' export calls in YAML, run on the kernel and checked.

``load_scenario`` reads and checks a file (:class:`ScenarioError` says
``file:line: what is wrong``); ``run_scenario`` runs it on a fresh kernel and
returns a :class:`ScenarioResult`. ``docs/scenarios.md`` documents the format.
"""

from x360k.scenario.errors import ScenarioError
from x360k.scenario.loader import load_scenario, parse_scenario
from x360k.scenario.runner import Failure, ScenarioResult, ThreadSummary, run_scenario
from x360k.scenario.schema import Scenario

__all__ = [
    "Failure",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "ThreadSummary",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
]
