"""BoolQ data: loading a split and drawing a seeded, gold-stratified sample of questions."""

from harness.boolq._loader import (
    ENV_VAR,
    BoolQItem,
    item_id,
    load_boolq,
    load_boolq_file,
    load_boolq_hub,
)
from harness.boolq._sample import sample_questions

__all__ = [
    "ENV_VAR",
    "BoolQItem",
    "item_id",
    "load_boolq",
    "load_boolq_file",
    "load_boolq_hub",
    "sample_questions",
]
