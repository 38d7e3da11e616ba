"""The entity data model: an `Entity` (one organisation) and a versioned, hashed `EntitySet`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.entities._text import normalize

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""Entity ids: lower-case ASCII words joined by single hyphens ("against-malaria-foundation")."""

UNCATEGORISED = "uncategorised"
"""The category of an entity whose file gives none."""


def _non_empty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("is empty")
    return value


class Entity(BaseModel):
    """One organisation a model can be asked about.

    Entities hash and compare by value but hash on ``id`` alone, so they can be dict keys
    and set members (ids are unique within a set).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Stable slug used in results and data files; never shown to the model."""
    name: str
    """The organisation's real name, as shown to the model."""
    description: str = ""
    """One neutral, factual sentence, shown to the model after the name; empty if the file
    gives none (loaders warn about that)."""
    category: str = UNCATEGORISED
    """Cause area, e.g. "global health"."""
    aliases: list[str] = Field(default_factory=list)
    """Other real names and acronyms that answers may use ("AMF")."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """Extra fields of a user file (column -> value), kept for analysis and exported with
    samples; never shown to the model."""

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not value:
            raise ValueError("is empty")
        if not SLUG.match(value):
            raise ValueError(
                f"{value!r} is not a slug (lower-case letters, digits and single hyphens)"
            )
        return value

    @field_validator("name", "category")
    @classmethod
    def _check_text(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, values: dict[str, str]) -> dict[str, str]:
        cleaned: dict[str, str] = {}
        for key, value in values.items():
            if not key.strip():
                raise ValueError("has a field with no name")
            cleaned[key.strip()] = value.strip()
        return cleaned

    @field_validator("name")
    @classmethod
    def _check_name_has_words(cls, value: str) -> str:
        # A name that normalises to nothing ("The", "&") could never be matched in answers.
        if not normalize(value):
            raise ValueError(f"{value!r} has no letters or digits")
        return value

    @field_validator("aliases")
    @classmethod
    def _check_aliases(cls, values: list[str]) -> list[str]:
        cleaned = []
        for alias in values:
            alias = alias.strip()
            if not alias:
                raise ValueError("contains an empty alias")
            if not normalize(alias):
                raise ValueError(f"alias {alias!r} has no letters or digits")
            cleaned.append(alias)
        return cleaned

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def names(self) -> list[str]:
        """The name followed by the aliases: every string that refers to this entity."""
        return [self.name, *self.aliases]


class Conflict(NamedTuple):
    """A clash between two entities of one set, found by :func:`find_conflicts`."""

    index: int
    """0-based position of the later entity, the one reported as wrong."""
    field: str
    """``name``, ``aliases`` or ``id``: the later entity's field that clashes."""
    value: str
    other: int
    """0-based position of the earlier entity it clashes with."""
    message: str
    """What is wrong, e.g. ``'oxfam' duplicates the name of entity 2 ('Oxfam')``."""


def _entity_label(index: int) -> str:
    return f"entity {index + 1}"


def find_conflicts(
    entities: list[Entity], label: Callable[[int], str] = _entity_label
) -> list[Conflict]:
    """Duplicate ids, and names or aliases that two entities share after normalisation.

    Names and aliases share one namespace, compared case-insensitively after
    :func:`~harness.entities._text.normalize`: an answer saying "Red Cross" must map to one
    entity only. Repeats within one entity (an alias equal to its own name) are harmless.
    ``label`` names the earlier entity in messages (loaders pass file line numbers).
    """
    conflicts: list[Conflict] = []
    ids: dict[str, int] = {}
    owners: dict[str, tuple[int, str]] = {}
    for index, entity in enumerate(entities):
        for field, value in [("name", entity.name)] + [("aliases", a) for a in entity.aliases]:
            other, other_field = owners.setdefault(normalize(value), (index, field))
            if other != index:
                verb = "duplicates" if field == "name" else "collides with"
                whose = "the name" if other_field == "name" else "an alias"
                conflicts.append(
                    Conflict(
                        index,
                        field,
                        value,
                        other,
                        f"{value!r} {verb} {whose} of {label(other)} ({entities[other].name!r})",
                    )
                )
        # Checked after names: an id derived from a duplicated name is a symptom, not the cause.
        if entity.id in ids:
            other = ids[entity.id]
            conflicts.append(
                Conflict(index, "id", entity.id, other, f"{entity.id!r} duplicates {label(other)}")
            )
        else:
            ids[entity.id] = index
    return conflicts


class EntitySet(BaseModel):
    """A named, versioned list of entities. Runs record ``id``, ``version`` and ``content_hash``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    version: str
    description: str = ""
    entities: list[Entity]
    source: str = ""
    """Where the entities came from and under what terms."""

    _by_id: dict[str, Entity] = PrivateAttr(default_factory=dict)

    @field_validator("id", "version")
    @classmethod
    def _check_text(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("entities")
    @classmethod
    def _check_not_empty(cls, values: list[Entity]) -> list[Entity]:
        if not values:
            raise ValueError("is empty")
        return values

    @model_validator(mode="after")
    def _check_unique(self) -> EntitySet:
        conflicts = find_conflicts(self.entities)
        if conflicts:
            first = conflicts[0]
            raise ValueError(f"entity {first.index + 1}: field {first.field!r} {first.message}")
        return self

    def model_post_init(self, context: object, /) -> None:
        self._by_id.update((e.id, e) for e in self.entities)

    @cached_property
    def content_hash(self) -> str:
        """First 12 hex digits of the SHA-256 of the set's canonical JSON.

        Canonical means sorted keys, no whitespace and UTF-8, so the hash changes exactly when
        some field of the set or of an entity changes, not when the YAML is reformatted.
        """
        data = self.model_dump(mode="json")
        for entity in data["entities"]:
            # Entities without metadata hash as they did before metadata existed, so the
            # hashes recorded by earlier runs of the same sets stay valid.
            if not entity["metadata"]:
                del entity["metadata"]
        payload = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]

    @property
    def metadata_fields(self) -> list[str]:
        """Metadata field names over all entities, in the order they first appear."""
        return list(dict.fromkeys(key for e in self.entities for key in e.metadata))

    @property
    def categories(self) -> list[str]:
        """Distinct categories in the order they first appear."""
        return list(dict.fromkeys(e.category for e in self.entities))

    def get(self, entity_id: str) -> Entity:
        """The entity with this id; ``KeyError`` naming the set if there is none."""
        try:
            return self._by_id[entity_id]
        except KeyError:
            raise KeyError(f"entity set {self.id!r} has no entity {entity_id!r}") from None

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._by_id

    def __len__(self) -> int:
        return len(self.entities)

    def __iter__(self) -> Iterator[Entity]:  # type: ignore[override]
        # Iterating a set yields its entities, not pydantic's (field, value) pairs.
        return iter(self.entities)
