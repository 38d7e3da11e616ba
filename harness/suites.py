"""Suites: named lists of probe stages. A later stage may read an earlier stage's results."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    stages: tuple[tuple[str, ...], ...]
    """Probe names per stage; a stage starts when the previous one has finished."""
    limit_means: str = "entities"

    @property
    def probes(self) -> list[str]:
        return [name for stage in self.stages for name in stage]


SUITES: dict[str, Suite] = {
    "elicitation": Suite(
        "elicitation",
        "Preferences two ways: pairwise forced choice (both orders) and direct ranking.",
        (("pairwise", "ranking"),),
    ),
}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise UsageError(f"unknown suite '{name}' (known: {', '.join(sorted(SUITES))})") from None
