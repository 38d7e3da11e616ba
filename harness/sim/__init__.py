"""The simulated subject ``sim``: seeded, planted preferences and effects. Not a language model."""

from harness.sim._knobs import (
    SimKnobs,
    Utilities,
    call_rng,
    check_rate,
    knob_group,
    knob_groups,
    standard_normal,
)
from harness.sim._subject import SimModel, logistic, sim_task

__all__ = [
    "SimKnobs",
    "SimModel",
    "Utilities",
    "call_rng",
    "check_rate",
    "knob_group",
    "knob_groups",
    "logistic",
    "sim_task",
    "standard_normal",
]
from harness.sim import agentic as _agentic  # noqa: F401 - registers the agent task and knobs
from harness.sim import boolq as _boolq  # noqa: F401 - registers the BoolQ task and knobs
from harness.sim import donation as _donation  # noqa: F401 - registers the donation task and knobs
from harness.sim import extractor as _extractor  # noqa: F401 - registers the extractor task and knobs
