"""Entity sets: the organisations models are asked about, how to load them and find them in text.

>>> from harness.entities import EntityMatcher, load_entity_set
>>> charities = load_entity_set("default")
>>> EntityMatcher(charities).match_name("**GiveDirectly**").id
'givedirectly'
"""

from harness.entities._entities import UNCATEGORISED, Entity, EntitySet
from harness.entities._loader import (
    LoadedEntitySet,
    LoadReport,
    list_entity_sets,
    load_entity_set,
    read_entity_set,
)
from harness.entities._matching import EntityMatcher

__all__ = [
    "UNCATEGORISED",
    "Entity",
    "EntityMatcher",
    "EntitySet",
    "LoadReport",
    "LoadedEntitySet",
    "list_entity_sets",
    "load_entity_set",
    "read_entity_set",
]
