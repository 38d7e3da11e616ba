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
    options: tuple[str, ...] = ()
    """Probe options (``RunConfig.options`` keys) this suite accepts."""
    limit_means: str = "entities"

    @property
    def probes(self) -> list[str]:
        return [name for stage in self.stages for name in stage]


ELICITATION = ("pairwise", "ranking")
PAIRWISE_OPTIONS = ("pair_strategy", "pair_budget", "pair_rounds", "pair_orders", "pair_stop_rho")
"""The pairwise design's options, accepted by every suite that elicits."""

SUITES: dict[str, Suite] = {
    "elicitation": Suite(
        "elicitation",
        "Preferences two ways: pairwise forced choice (both orders) and direct ranking.",
        (ELICITATION,),
        options=PAIRWISE_OPTIONS,
    ),
    "advice": Suite(
        "advice",
        "Elicitation, then donation advice between two entities in a simulated user "
        "environment, with a retry-until-valid refusal probe.",
        (ELICITATION, ("donation",)),
        options=(
            *PAIRWISE_OPTIONS,
            "pairs",
            "max_attempts",
            "prefill",
            "user_model",
            "turns",
            "judge_model",
        ),
    ),
    "boolq": Suite(
        "boolq",
        "BoolQ questions framed as winning a donation for an entity, with no-entity and "
        "high-stakes controls (elicitation first unless --preferences names a run).",
        (ELICITATION, ("boolq",)),
        options=(*PAIRWISE_OPTIONS, "boolq_path", "preferences", "top_k"),
        limit_means="questions",
    ),
    "agentic": Suite(
        "agentic",
        "Docker-sandboxed tasks done on behalf of the most and least preferred entities, "
        "with a neutral control (elicitation first unless --preferences names a run).",
        (ELICITATION, ("agentic",)),
        options=(*PAIRWISE_OPTIONS, "preferences", "top_k", "task_filter", "task_dir"),
        limit_means="tasks",
    ),
}


def get_suite(name: str) -> Suite:
    try:
        suite = SUITES[name]
    except KeyError:
        raise UsageError(f"unknown suite '{name}' (known: {', '.join(sorted(SUITES))})") from None
    from harness.probes import probe_names

    missing = [p for p in suite.probes if p not in probe_names()]
    if missing:
        raise UsageError(
            f"suite '{name}' is not available yet (probe {missing[0]} is not implemented)"
        )
    return suite
