"""The simulated subject's knobs, read from ``-M key=value`` model arguments.

Knobs come in groups: :class:`SimKnobs` (shared by every task) and one group per probe,
registered with :func:`knob_group`, so a probe's simulation lives beside nothing else's.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ConfigError, UsageError

K = TypeVar("K")
_GROUPS: list[type] = []


def knob_group(cls: type[K]) -> type[K]:
    """Register a frozen dataclass of knobs; each field becomes a ``-M`` model argument.

    Fields must be int, float, bool or ``str | None``, and names must be unique across groups.
    """
    taken = {f.name for group in _GROUPS for f in fields(group)}
    clash = taken & {f.name for f in fields(cls)}
    if clash:
        raise RuntimeError(f"sim knob(s) {sorted(clash)} defined twice")
    _GROUPS.append(cls)
    return cls


def knob_groups() -> list[type]:
    return list(_GROUPS)


def _convert(name: str, kind: str, raw: object) -> object:
    try:
        if kind == "int":
            return int(raw)  # type: ignore[call-overload]
        if kind == "float":
            return float(raw)  # type: ignore[arg-type]
        if kind == "bool":
            text = str(raw).lower()
            if text not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError
            return text in ("1", "true", "yes")
        return None if raw in (None, "") else str(raw)
    except ValueError:
        raise UsageError(f"sim model argument {name}={raw!r} is not a {kind}") from None


def parse_knobs(args: dict[str, object] | None) -> dict[type, Any]:
    """Split model arguments over the registered groups; unknown names are usage errors."""
    args = dict(args or {})
    known = {f.name: (group, f) for group in _GROUPS for f in fields(group)}
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise UsageError(
            f"sim does not take model argument '{unknown[0]}' (known: {', '.join(sorted(known))})"
        )
    values: dict[type, dict[str, object]] = {group: {} for group in _GROUPS}
    for name, raw in args.items():
        group, spec = known[name]
        values[group][name] = _convert(name, str(spec.type), raw)
    instances = {group: group(**kw) for group, kw in values.items()}
    for instance in instances.values():
        validate = getattr(instance, "validate", None)
        if validate:
            validate()
    return instances


def check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"sim model argument {name} must be in [0, 1], got {value}")


@knob_group
@dataclass(frozen=True)
class SimKnobs:
    """Knobs shared by every task, and those of preference elicitation.

    Utilities are latent standard-normal values per entity, drawn from ``seed`` and the
    entity id (so any entity set works without set-up), or read from ``utilities`` (a CSV
    with columns ``entity`` — id or name — and ``utility``).
    """

    seed: int = 0
    """Seeds the utilities and every answer. A run passes its `--seed` here unless `-M seed=` is
    given (see :meth:`harness.config.RunConfig.subject_args`)."""
    utilities: str | None = None
    """Path to a CSV of planted utilities (columns: entity, utility)."""
    choice_noise: float = 0.5
    """Pairwise choices follow P(A) = logistic((u_A - u_B) / choice_noise + position_bias):
    smaller is more consistent."""
    position_bias: float = 0.2
    """Added log-odds for option A (0 = none). 0.2 gives about 55 % A on equal utilities."""
    unparseable_rate: float = 0.02
    """Share of elicitation answers that are neither a choice nor a ranking (a dodge)."""
    ranking_noise: float = 0.35
    """SD of the Gaussian noise added to utilities before sorting a direct ranking."""
    ranking_omit_rate: float = 0.01
    """Chance that each entity is left out of a direct-ranking answer."""
    typo_rate: float = 0.03
    """Chance that an entity name in an answer carries a small misspelling."""

    def validate(self) -> None:
        for name in ("unparseable_rate", "ranking_omit_rate", "typo_rate"):
            check_rate(name, getattr(self, name))
        if self.choice_noise <= 0:
            raise UsageError("sim model argument choice_noise must be positive")

    @classmethod
    def from_args(cls, args: dict[str, object] | None) -> SimKnobs:
        return parse_knobs(args)[cls]


def standard_normal(*parts: object) -> float:
    """A standard-normal draw fixed by ``parts`` (stable across processes and platforms)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
    u2 = (int.from_bytes(digest[8:16], "big") + 0.5) / 2**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def read_utilities(path: str) -> dict[str, float]:
    """Read ``entity,utility`` rows; keys are matched against entity ids and names."""
    file = Path(path)
    try:
        with file.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"entity", "utility"} <= set(reader.fieldnames):
                raise ConfigError(f"{file}: utilities CSV needs columns 'entity' and 'utility'")
            table: dict[str, float] = {}
            for line, row in enumerate(reader, start=2):
                try:
                    table[row["entity"].strip()] = float(row["utility"])
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"{file} line {line}: field 'utility' is not a number"
                    ) from None
    except OSError as error:
        raise ConfigError(f"cannot read utilities file {file}: {error.strerror}") from None
    if not table:
        raise ConfigError(f"{file}: utilities CSV has no rows")
    return table


class Utilities:
    """Latent utility per entity: planted from a file when given, else drawn from the seed."""

    def __init__(self, knobs: SimKnobs):
        self.seed = knobs.seed
        self.planted = read_utilities(knobs.utilities) if knobs.utilities else {}

    def __call__(self, entity_id: str, name: str | None = None) -> float:
        if self.planted:
            for key in (entity_id, name):
                if key is not None and key in self.planted:
                    return self.planted[key]
            raise ConfigError(f"planted utilities file has no row for entity '{entity_id}'")
        return standard_normal("utility", self.seed, entity_id)


def call_rng(seed: int, key: str) -> random.Random:
    """The random stream for one call, fixed by the run seed and the call's key, so an answer
    never depends on scheduling, concurrency or whether the run was resumed."""
    return random.Random(f"{seed}|{key}")
