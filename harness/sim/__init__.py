"""The simulated subject ``sim``: seeded, planted preferences and effects. Not a language model."""

from harness.sim._knobs import SimKnobs, Utilities, standard_normal
from harness.sim._subject import SimModel, sim_task

__all__ = ["SimKnobs", "SimModel", "Utilities", "sim_task", "standard_normal"]
