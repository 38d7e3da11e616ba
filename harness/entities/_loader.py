"""Load entity sets: built-in sets by name, or user YAML/CSV files, with one-line errors.

Every problem with a file is raised as :class:`~harness.errors.ConfigError` whose message
names the file, the place in it (CSV line number, or YAML entity number and line) and the
field, e.g. ``entities.csv line 4: field 'name' is empty``, because the CLI prints it as the
whole explanation.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from harness.entities._entities import Entity, EntitySet, find_conflicts
from harness.errors import ConfigError

DEFAULT_SET = "charities-72"
"""What ``default`` (the CLI's default ``--entities``) refers to."""

CSV_COLUMNS = ("name", "description", "category", "aliases")
CSV_OPTIONAL_COLUMNS = ("id",)
ALIAS_SEPARATOR = "|"

_VERSION_COMMENT = re.compile(r"^#\s*version\s*:\s*(\S.*?)\s*$", re.IGNORECASE)
_SET_FIELDS = {"id", "version", "description", "source", "entities"}
# The C loader is ~10x faster when libyaml is present; both accept the same documents.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _data_dir() -> Traversable:
    return resources.files("harness.entities").joinpath("data")


@cache
def _builtin_files() -> dict[str, Traversable]:
    """Built-in set id -> its YAML file, read from each file's ``id`` field.

    Cached: the packaged data files do not change while the process runs.
    """
    found: dict[str, Traversable] = {}
    for item in sorted(_data_dir().iterdir(), key=lambda t: t.name):
        if item.is_file() and item.name.endswith((".yaml", ".yml")):
            try:
                data = yaml.load(item.read_text(encoding="utf-8"), Loader=_Loader)
            except yaml.YAMLError:
                data = None  # listed under its file name; loading it reports the error
            set_id = data.get("id") if isinstance(data, dict) else None
            found[str(set_id or item.name.rsplit(".", 1)[0])] = item
    return found


def list_entity_sets() -> list[EntitySet]:
    """Every built-in entity set, sorted by id."""
    files = _builtin_files()
    return [
        _load_yaml_text(files[k].read_text(encoding="utf-8"), files[k].name) for k in sorted(files)
    ]


def load_entity_set(name_or_path: str | Path) -> EntitySet:
    """Load a built-in set by id (or ``default``), or a user ``.yaml``/``.yml``/``.csv`` file.

    A user YAML file has the schema of the built-in ``default.yaml``; a CSV file has the
    columns ``name,description,category,aliases`` (aliases separated by ``|``) and optionally
    ``id``. See ``harness/entities/data/README.md``.
    """
    text = str(name_or_path)
    key = DEFAULT_SET if text == "default" else text
    builtins = _builtin_files()
    if key in builtins:
        item = builtins[key]
        return _load_yaml_text(item.read_text(encoding="utf-8"), item.name)

    path = Path(text)
    suffix = path.suffix.lower()
    if not path.exists():
        if suffix in {".yaml", ".yml", ".csv"} or "/" in text or "\\" in text:
            raise ConfigError(f"{text}: entity file not found")
        known = ", ".join([*sorted(builtins), "default"])
        raise ConfigError(
            f"unknown entity set {text!r}: use a built-in set ({known}) "
            "or a path to a .yaml or .csv file"
        )
    if path.is_dir():
        raise ConfigError(f"{text}: is a directory, not an entity file")
    if suffix not in {".yaml", ".yml", ".csv"}:
        raise ConfigError(
            f"{text}: unsupported entity file type {suffix or '(none)'!r}; use .yaml, .yml or .csv"
        )
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{text}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{text}: cannot read file ({e.strerror or e})") from None
    if not content.strip():
        raise ConfigError(f"{text}: file is empty")
    if suffix == ".csv":
        return _load_csv_text(content, text, set_id=path.stem)
    return _load_yaml_text(content, text, default_id=path.stem)


# -- shared -------------------------------------------------------------------------------


def slugify(name: str) -> str:
    """An entity id derived from a name ("Boys & Girls Clubs" -> "boys-and-girls-clubs").

    Accents are dropped and apostrophes deleted, so "Samaritan's Purse" -> "samaritans-purse".
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = ascii_name.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def _describe(err: ErrorDetails) -> str:
    """A pydantic error as "field 'x' <problem>", without pydantic's URL and layout."""
    loc = [str(part) for part in err["loc"]]
    field = loc[0] if loc else "?"
    if err["type"] == "missing":
        return f"field {field!r} is missing"
    if err["type"] == "extra_forbidden":
        return f"unknown field {field!r}"
    if err["type"] == "value_error":
        return f"field {field!r} {err['ctx']['error']}"
    where = f"field {field!r}" + (f" item {int(loc[1]) + 1}" if len(loc) > 1 else "")
    return f"{where}: {err['msg'][0].lower()}{err['msg'][1:]}"


def _build_entity(data: dict[str, Any], where: str) -> Entity:
    """Validate one entity; an absent or empty id is derived from the name."""
    derived_id = not data.get("id")
    if derived_id:
        name = data.get("name")
        data = {**data, "id": slugify(name) if isinstance(name, str) else ""}
        if isinstance(name, str) and name.strip() and not data["id"]:
            raise ConfigError(
                f"{where}: field 'name' {name!r} cannot be turned into an id; "
                "give an 'id' explicitly"
            )
    try:
        return Entity.model_validate(data)
    except ValidationError as e:
        # When the id was derived, a bad id is only a symptom of a bad name: report the name.
        errors = e.errors(include_url=False)
        if derived_id and len(errors) > 1:
            errors = [err for err in errors if err["loc"][:1] != ("id",)]
        raise ConfigError(f"{where}: {_describe(errors[0])}") from None


def _build_set(
    fields: dict[str, Any], entities: list[Entity], labels: list[str], file: str
) -> EntitySet:
    conflicts = find_conflicts(entities)
    if conflicts:
        first = conflicts[0]
        raise ConfigError(f"{labels[first.index]}: field {first.field!r} {first.message}")
    try:
        return EntitySet.model_validate({**fields, "entities": entities})
    except ValidationError as e:
        raise ConfigError(f"{file}: {_describe(e.errors(include_url=False)[0])}") from None


# -- CSV ----------------------------------------------------------------------------------


def _load_csv_text(text: str, file: str, *, set_id: str) -> EntitySet:
    version = "0"
    offset = 0  # physical lines consumed before the CSV reader starts counting
    first, _, rest = text.partition("\n")
    if m := _VERSION_COMMENT.match(first.strip()):
        version, text, offset = m.group(1), rest, 1
    # newline="" lets the csv module see quoted line breaks inside fields as data.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)

    try:
        header = next(reader)
    except StopIteration:
        raise ConfigError(
            f"{file}: no header line (expected columns {','.join(CSV_COLUMNS)})"
        ) from None
    except csv.Error as e:
        raise ConfigError(f"{file} line {reader.line_num + offset}: malformed CSV ({e})") from None
    header_line = reader.line_num + offset
    columns = [c.strip().lower() for c in header]
    expected = f"expected columns {','.join(CSV_COLUMNS)} (and optionally id)"
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ConfigError(f"{file} line {header_line}: column {duplicated[0]!r} appears twice")
    unknown = [c for c in columns if c not in CSV_COLUMNS + CSV_OPTIONAL_COLUMNS]
    if unknown:
        raise ConfigError(f"{file} line {header_line}: unknown column {unknown[0]!r}; {expected}")
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise ConfigError(f"{file} line {header_line}: missing column {missing[0]!r}; {expected}")

    entities: list[Entity] = []
    labels: list[str] = []
    previous_end = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise ConfigError(
                f"{file} line {previous_end + 1 + offset}: malformed CSV ({e})"
            ) from None
        # A quoted field may span lines; report the line the record starts on.
        where = f"{file} line {previous_end + 1 + offset}"
        previous_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise ConfigError(f"{where}: expected {len(columns)} fields, got {len(row)}")
        record = dict(zip(columns, (cell.strip() for cell in row), strict=True))
        for column in CSV_COLUMNS[:3]:
            if not record[column]:
                raise ConfigError(f"{where}: field {column!r} is empty")
        aliases = record.pop("aliases")
        record["aliases"] = aliases.split(ALIAS_SEPARATOR) if aliases else []
        entities.append(_build_entity(record, where))
        labels.append(where)
    if not entities:
        raise ConfigError(f"{file}: no entities (only a header line)")
    fields = {
        "id": set_id,
        "version": version,
        "description": f"Entities loaded from {Path(file).name}",
        "source": f"user file {Path(file).name}",
    }
    return _build_set(fields, entities, labels, file)


# -- YAML ---------------------------------------------------------------------------------


def _entity_lines(text: str) -> list[int]:
    """1-based line where each item of the top-level ``entities`` list starts.

    ``safe_load`` forgets positions, so the same text is composed once more to find them;
    any failure just means messages go without line numbers.
    """
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "entities" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _yaml_error(error: yaml.YAMLError, file: str) -> ConfigError:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"{file} line {mark.line + 1}" if mark is not None else file
    return ConfigError(f"{where}: invalid YAML ({problem})")


def _load_yaml_text(text: str, file: str, *, default_id: str | None = None) -> EntitySet:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise _yaml_error(e, file) from None
    if data is None:
        raise ConfigError(f"{file}: file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping with 'id', 'version' and 'entities'")
    unknown = sorted(str(k) for k in data if k not in _SET_FIELDS)
    if unknown:
        raise ConfigError(
            f"{file}: unknown field {unknown[0]!r} (expected {', '.join(sorted(_SET_FIELDS))})"
        )
    version = data.get("version", "0")
    if isinstance(version, float):
        # YAML reads 1.10 as the float 1.1, so a float version would be recorded wrongly.
        raise ConfigError(f"{file}: field 'version' must be quoted, e.g. version: \"{version}\"")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    raw_entities = data.get("entities")
    if raw_entities is None:
        raise ConfigError(f"{file}: field 'entities' is missing")
    if not isinstance(raw_entities, list):
        raise ConfigError(f"{file}: field 'entities' must be a list of entities")
    if not raw_entities:
        raise ConfigError(f"{file}: field 'entities' is empty")

    lines = _entity_lines(text)
    entities: list[Entity] = []
    labels: list[str] = []
    for index, raw in enumerate(raw_entities):
        where = f"{file} entity {index + 1}"
        if index < len(lines):
            where += f" (line {lines[index]})"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping with name, description, category")
        if raw.get("aliases", []) is None:
            raw = {**raw, "aliases": []}
        entities.append(_build_entity(raw, where))
        labels.append(where)
    fields = {
        "id": data.get("id", default_id),
        "version": version,
        "description": data.get("description") or "",
        "source": data.get("source") or "",
    }
    if fields["id"] is None:
        raise ConfigError(f"{file}: field 'id' is missing")
    return _build_set(fields, entities, labels, file)
