"""Prompt templates, kept as versioned YAML data files under ``harness/prompts/data``."""

from harness.prompts._templates import (
    PromptTemplate,
    builtin_templates,
    get_template,
    load_template_file,
    templates_for,
)

__all__ = [
    "PromptTemplate",
    "builtin_templates",
    "get_template",
    "load_template_file",
    "templates_for",
]
