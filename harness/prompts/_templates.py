"""Prompt templates as versioned data files: each template has an id and a version that every
sample records, so a new framing or phrasing needs no code change."""

from __future__ import annotations

import string
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from harness.errors import ConfigError


class PromptTemplate(BaseModel):
    """One prompt: an optional system prompt and a user turn with ``{placeholders}``."""

    id: str
    version: str
    probe: str
    user: str
    system: str | None = None
    prefill: str | None = None
    description: str = ""
    tags: dict[str, Any] = Field(default_factory=dict)
    """Free-form attributes a probe may select on (e.g. ``framing: entity``)."""

    @property
    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for text in (self.user, self.system or "", self.prefill or ""):
            names |= {field for _, field, _, _ in string.Formatter().parse(text) if field}
        return names

    def render(self, **values: Any) -> tuple[str | None, str]:
        """Return ``(system, user)`` with placeholders filled. A missing value is a bug in the
        probe, not user input, so it raises KeyError."""
        missing = self.placeholders - values.keys()
        if missing:
            raise KeyError(f"template {self.id} needs {sorted(missing)}")
        system = self.system.format(**values) if self.system else None
        return system, self.user.format(**values)


class TemplateFile(BaseModel):
    templates: list[PromptTemplate]


def load_template_file(
    path: Path | str, *, allowed: dict[str, set[str]] | None = None
) -> list[PromptTemplate]:
    """Load and validate a template file. ``allowed`` maps probe name to the placeholders the
    probe supplies; a template using any other placeholder is rejected at load time."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read template file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"template file {path} is not valid YAML: {error}") from None
    try:
        parsed = TemplateFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"template file {path}: {where}: {first['msg']}") from None
    seen: set[str] = set()
    for template in parsed.templates:
        if template.id in seen:
            raise ConfigError(f"template file {path}: duplicate template id '{template.id}'")
        seen.add(template.id)
        try:
            template.placeholders  # noqa: B018 - parses the format strings
        except ValueError as error:
            raise ConfigError(f"template file {path}: template '{template.id}': {error}") from None
        if allowed is not None and template.probe in allowed:
            unknown = template.placeholders - allowed[template.probe]
            if unknown:
                raise ConfigError(
                    f"template file {path}: template '{template.id}' uses unknown placeholder(s) "
                    f"{sorted(unknown)}; probe '{template.probe}' supplies {sorted(allowed[template.probe])}"
                )
    return parsed.templates


@cache
def builtin_templates() -> dict[str, PromptTemplate]:
    """Every template shipped in ``harness/prompts/data``, by id."""
    found: dict[str, PromptTemplate] = {}
    for entry in sorted(resources.files("harness.prompts").joinpath("data").iterdir(), key=str):
        if entry.name.endswith((".yaml", ".yml")):
            for template in load_template_file(Path(str(entry))):
                if template.id in found:
                    raise ConfigError(
                        f"template id '{template.id}' is defined twice in harness/prompts/data"
                    )
                found[template.id] = template
    return found


def templates_for(probe: str) -> list[PromptTemplate]:
    return [t for t in builtin_templates().values() if t.probe == probe]


def get_template(template_id: str) -> PromptTemplate:
    try:
        return builtin_templates()[template_id]
    except KeyError:
        raise ConfigError(f"unknown prompt template '{template_id}'") from None
