"""Trials, probes and the per-run / per-trial contexts every probe works through."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.model import Model, ModelError, ModelRequest, ModelResponse
from harness.store import CallRecord

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.entities import EntityMatcher, EntitySet
    from harness.store import RunStore


@dataclass(frozen=True)
class Trial:
    """One unit of work, pure data. Its id is derived from its content, so a resumed run that
    recomputes the same plan finds the same ids and skips the ones already stored."""

    probe: str
    key: dict[str, Any]
    id: str

    def __getitem__(self, name: str) -> Any:
        return self.key[name]


def make_trial(probe: str, **key: Any) -> Trial:
    blob = json.dumps([probe, key], sort_keys=True, separators=(",", ":"), default=str)
    return Trial(probe=probe, key=key, id=hashlib.sha256(blob.encode()).hexdigest()[:20])


@dataclass
class RunContext:
    """What every probe of a run can see. Built once per run; holds no per-trial state."""

    run_id: str
    config: RunConfig
    entities: EntitySet
    matcher: EntityMatcher
    models: dict[str, Model]
    """By role: ``subject`` always; ``user`` and ``judge`` when configured."""
    store: RunStore
    max_sandboxes: int = 4
    """Containers that may run at once (agentic probes); an execution setting, not hashed."""
    preview: bool = False
    """A cost preview: plans are made and requests rendered, nothing is sent. Stages that
    build on elicited preferences use a stand-in order (the entity set's own)."""

    def entity_subset(self) -> list:
        """The entities this run uses: the whole set, or the first ``--limit`` of it when the
        suite's limit counts entities (in boolq it counts questions, in agentic tasks)."""
        entities = list(self.entities)
        limit = entity_limit(self.config)
        return entities[:limit] if limit else entities


def entity_limit(config: RunConfig) -> int | None:
    """``--limit`` when the suite's limit counts entities, else None."""
    from harness.suites import get_suite

    if config.limit and get_suite(config.suite).limit_means == "entities":
        return config.limit
    return None


class ProbeFailure(Exception):
    """A probe could not produce a result for a trial (recorded as an errored sample)."""


@dataclass
class TrialContext:
    """Per-trial handle: model calls made through it are recorded with the trial."""

    trial: Trial
    run: RunContext
    calls: list[CallRecord] = field(default_factory=list)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def generate(self, request: ModelRequest, role: str = "subject") -> ModelResponse:
        model = self.run.models[role]
        # The call key makes the simulated subject's answer a function of the trial and the
        # call's position in it, never of scheduling; real providers ignore metadata.
        request.metadata.setdefault("call_key", f"{self.trial.id}:{role}:{len(self.calls)}")
        request_json = request.model_dump_json(exclude_defaults=True)
        started = time.perf_counter()
        try:
            response = await model.generate(request)
        except ModelError as error:
            self.calls.append(
                CallRecord(
                    role=role,
                    model=model.name,
                    request=request_json,
                    error=str(error),
                    latency=time.perf_counter() - started,
                )
            )
            raise
        self.calls.append(
            CallRecord(
                role=role,
                model=model.name,
                request=request_json,
                # The reasoning has a column of its own; it is not repeated in the response.
                response=response.model_dump_json(exclude_defaults=True, exclude={"reasoning"}),
                latency=response.latency,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                cached=response.cached,
                cost=response.cost,
                reasoning=response.reasoning,
                reasoning_tokens=response.usage.reasoning_tokens,
            )
        )
        return response

    def record(self, kind: str, data: dict[str, Any]) -> None:
        """Add a sub-row (e.g. one refusal attempt) stored with this trial."""
        self.records.append((kind, data))


@dataclass(frozen=True)
class CallProfile:
    """How a cost preview scales one of a trial's calls when no pilot run measured it.

    Each number is a stated assumption, printed with the preview, so a researcher can see
    what the estimate rests on (and replace it with ``--pilot RUN``).
    """

    calls: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Calls of this kind per trial: fewest, expected, most (the cap)."""
    output_tokens: int = 100
    """Expected answer length per call, in tokens (``--max-tokens`` caps it)."""
    input_growth: int = 0
    """Tokens each later call of the trial adds to the first one's input (an agent's
    growing transcript)."""
    assumption: str = ""


@dataclass(frozen=True)
class PreviewCall:
    """One kind of call a trial makes, rendered as it would be sent, for a cost preview."""

    role: str
    model: str
    request: ModelRequest
    profile: CallProfile


class Probe(Protocol):
    """Turns a run into trials, and one trial into model calls and a flat result row.

    A probe may also offer ``preview(trial, run) -> list[PreviewCall]``: the requests a trial
    sends first, rendered exactly as :meth:`run` renders them, for ``--dry-run``; and
    ``trial_resources: dict[str, float]``: what one trial holds while it runs beyond a model
    connection (``{"sandbox": 1}``: a Docker sandbox), so an executor that spreads trials over
    machines places them where that is (see :mod:`harness.executors`).

    And ``first_requests(trial, run) -> list[ModelRequest]``: the subject requests a trial sends
    before it has seen any answer, equal to the ones :meth:`run` then sends (the same function
    builds both). ``--batch`` sends these through the provider's batch API ahead of the stage
    and answers the trial's calls from the results; a probe without it (agentic: every step
    depends on the last) runs online.

    Optional attributes the engine reads: ``adaptive`` (true: after its pending trials are
    stored, ``plan`` is called again, until it plans no trial not yet tried), ``design_options``
    (resolved probe options, recorded in the hashed configuration) and ``estimate(run)``.

    Between :meth:`plan` and :meth:`run` a probe may be pickled and its trials run in other
    processes: :meth:`run` may use what :meth:`plan` left on the probe and what the
    :class:`RunContext` holds, but not the run store (only the process that plans has it).
    """

    name: str
    templates: list[str]
    """Template ids (``id@version``) it uses, recorded in the run configuration."""

    def plan(self, run: RunContext) -> list[Trial]: ...

    async def run(self, trial: Trial, ctx: TrialContext) -> dict[str, Any]: ...


ProbeFactory = Callable[["RunConfig"], Probe]
_PROBES: dict[str, ProbeFactory] = {}


def probe(name: str) -> Callable[[ProbeFactory], ProbeFactory]:
    """Register a probe factory under ``name`` (decorator)."""

    def register(factory: ProbeFactory) -> ProbeFactory:
        _PROBES[name] = factory
        return factory

    return register


def create_probe(name: str, config: RunConfig) -> Probe:
    return _PROBES[name](config)


def probe_names() -> list[str]:
    return sorted(_PROBES)
