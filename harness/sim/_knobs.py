"""The simulated subject's knobs, read from ``-M key=value`` model arguments."""

from __future__ import annotations

import csv
import hashlib
import math
import random
from dataclasses import dataclass, field, fields
from pathlib import Path

from harness.errors import ConfigError, UsageError


@dataclass(frozen=True)
class SimKnobs:
    """Every behaviour of ``sim`` is set here; each field is a ``-M`` model argument.

    Utilities are latent standard-normal values per entity, drawn from ``seed`` and the
    entity id (so any entity set works without set-up), or read from ``utilities`` (a CSV
    with columns ``entity`` — id or name — and ``utility``).
    """

    seed: int = 0
    """Seeds the utilities and every answer."""
    utilities: str | None = None
    """Path to a CSV of planted utilities (columns: entity, utility)."""
    choice_noise: float = 0.5
    """Pairwise choices follow P(A) = logistic((u_A - u_B) / choice_noise + position_bias):
    smaller is more consistent."""
    position_bias: float = 0.2
    """Added log-odds for option A (0 = none). 0.2 gives about 55 % A on equal utilities."""
    unparseable_rate: float = 0.02
    """Share of answers that are neither a choice nor a ranking (a refusal-like dodge)."""
    ranking_noise: float = 0.35
    """SD of the Gaussian noise added to utilities before sorting a direct ranking."""
    ranking_omit_rate: float = 0.01
    """Chance that each entity is left out of a direct-ranking answer."""
    typo_rate: float = 0.03
    """Chance that an entity name in an answer carries a small misspelling."""

    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: dict[str, object] | None) -> SimKnobs:
        args = dict(args or {})
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        values: dict[str, object] = {}
        for key, raw in args.items():
            if key not in known:
                raise UsageError(
                    f"sim does not take model argument '{key}' (known: {', '.join(sorted(known))})"
                )
            kind = known[key].type
            try:
                if kind in ("int",):
                    values[key] = int(raw)  # type: ignore[arg-type]
                elif kind in ("float",):
                    values[key] = float(raw)  # type: ignore[arg-type]
                else:
                    values[key] = None if raw in (None, "") else str(raw)
            except ValueError:
                raise UsageError(f"sim model argument {key}={raw!r} is not a {kind}") from None
        knobs = cls(**values)  # type: ignore[arg-type]
        knobs.validate()
        return knobs

    def validate(self) -> None:
        for name in ("unparseable_rate", "ranking_omit_rate", "typo_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"sim model argument {name} must be in [0, 1], got {value}")
        if self.choice_noise <= 0:
            raise UsageError("sim model argument choice_noise must be positive")


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
                    raise ConfigError(f"{file} line {line}: field 'utility' is not a number") from None
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
