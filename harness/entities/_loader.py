"""Load entity sets: built-in sets by name, or user YAML/CSV files, with one-line errors.

Every problem with a file is raised as :class:`~harness.errors.ConfigError` whose message
names the file, the place in it (CSV line number, or YAML entity number and line) and the
field, e.g. ``entities.csv line 4: field 'name' is empty``, because the CLI prints it as the
whole explanation.

Only ``name`` is required. An absent or empty ``description`` is allowed but warned about
(prompts show it), ``category`` defaults to :data:`~harness.entities._entities.UNCATEGORISED`,
``aliases`` to none and ``id`` to a slug of the name. Any other column (CSV) or field (YAML)
is kept as entity metadata. :func:`read_entity_set` returns, with the set, a
:class:`LoadReport` of what was read and which defaults were applied.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from harness.entities._entities import UNCATEGORISED, Entity, EntitySet, find_conflicts
from harness.errors import ConfigError

DEFAULT_SET = "charities-72"
"""What ``default`` (the CLI's default ``--entities``) refers to."""

ENTITY_FIELDS = ("id", "name", "description", "category", "aliases")
"""Fields with a meaning; in user files every other column or field becomes metadata."""
OPTIONAL_FIELDS = ("description", "category", "aliases", "id")
ALIAS_SEPARATOR = "|"
CSV_DELIMITERS = (",", ";", "\t")
"""Delimiters recognised in a CSV header (semicolons: spreadsheets in many locales)."""

_VERSION_COMMENT = re.compile(r"^#\s*version\s*:\s*(\S.*?)\s*$", re.IGNORECASE)
_SEPARATOR_HINT = re.compile(r"^sep=(.)\s*$")
"""Spreadsheet programs may write ``sep=;`` as the first line of a CSV file."""
_UNDECODABLE = re.compile("[\udc80-\udcff]")
"""Bytes that were not UTF-8, kept as lone surrogates by the ``surrogateescape`` decoding."""
_YAML_KEY = re.compile(r"^\s*(?:-\s+)?([^\s:#][^:#]*?)\s*:")
_SET_FIELDS = {"id", "version", "description", "source", "entities"}
_UTF8_HINT = "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
# The C loader is ~10x faster when libyaml is present; both accept the same documents.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LoadReport:
    """What loading one entity set read, and the defaults it applied (``harness entities``)."""

    source: str
    """The file as given, or ``built-in <file name>``."""
    format: str
    """``CSV`` or ``YAML``."""
    size: int
    fields: tuple[str, ...]
    """CSV header columns, or the entity fields a YAML file uses, as written."""
    absent: tuple[str, ...]
    """Optional fields (description, category, aliases, id) that no entity gives."""
    metadata_fields: tuple[str, ...]
    derived_ids: frozenset[str]
    """Ids of entities whose id was derived from the name."""
    default_category: frozenset[str]
    """Ids of entities given the default category."""
    no_description: frozenset[str]
    """Ids of entities without a description."""
    delimiter: str | None = None
    encoding: str = "UTF-8"
    line_endings: str = "LF"
    ignored: tuple[str, ...] = ()
    """Things in the file that were deliberately skipped (e.g. an empty nameless column)."""

    @property
    def warnings(self) -> list[str]:
        """One line per problem worth telling the user on every load (not errors)."""
        if not self.no_description:
            return []
        n = len(self.no_description)
        verb = "has" if n == 1 else "have"
        return [
            f"{self.source}: {n} of {self.size} entities {verb} no description; prompts "
            "show each entity's description after its name, so these appear with none"
        ]


class LoadedEntitySet(NamedTuple):
    entity_set: EntitySet
    report: LoadReport


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
        _load_yaml_text(files[k].read_text(encoding="utf-8"), files[k].name).entity_set
        for k in sorted(files)
    ]


def load_entity_set(name_or_path: str | Path) -> EntitySet:
    """Load a built-in set by id (or ``default``), or a user ``.yaml``/``.yml``/``.csv`` file.

    A user YAML file has the schema of the built-in ``default.yaml``; a CSV file needs a
    ``name`` column and may have ``description``, ``category``, ``aliases`` (separated by
    ``|``), ``id`` and any other columns (kept as metadata). See
    ``harness/entities/data/README.md``.
    """
    return read_entity_set(name_or_path).entity_set


def read_entity_set(name_or_path: str | Path) -> LoadedEntitySet:
    """Like :func:`load_entity_set`, with a :class:`LoadReport` of what was read."""
    text = str(name_or_path)
    key = DEFAULT_SET if text == "default" else text
    builtins = _builtin_files()
    if key in builtins:
        item = builtins[key]
        return _load_yaml_text(
            item.read_text(encoding="utf-8"), item.name, source=f"built-in {item.name}"
        )

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
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{text}: cannot read file ({e.strerror or e})") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(f"{text}: the file is UTF-16 text; {_UTF8_HINT}")
    # Bytes that are not UTF-8 survive as lone surrogates, so the parsers can say which line
    # and field holds them; every surrogate is reported before anything is built from it.
    content = data.decode("utf-8-sig", errors="surrogateescape")
    if not content.strip():
        raise ConfigError(f"{text}: file is empty")
    encoding = "UTF-8 with BOM" if data.startswith(codecs.BOM_UTF8) else "UTF-8"
    if suffix == ".csv":
        return _load_csv_text(content, text, set_id=path.stem, encoding=encoding)
    if match := _UNDECODABLE.search(content):
        line_number = content.count("\n", 0, match.start()) + 1
        line = content.splitlines()[line_number - 1]
        key_match = _YAML_KEY.match(line)
        field = f"field {key_match.group(1)!r} " if key_match else ""
        raise ConfigError(
            f"{text} line {line_number}: {field}is not UTF-8 text "
            f"(byte 0x{ord(match.group()) - 0xDC00:02x}); {_UTF8_HINT}"
        )
    return _load_yaml_text(content, text, default_id=path.stem, encoding=encoding)


# -- shared -------------------------------------------------------------------------------


def slugify(name: str) -> str:
    """An entity id derived from a name ("Boys & Girls Clubs" -> "boys-and-girls-clubs").

    Accents are dropped and apostrophes deleted, so "Samaritan's Purse" -> "samaritans-purse".
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = ascii_name.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def _misspelt(name: str, absent: list[str]) -> str | None:
    """The absent known field that ``name`` probably misspells ("catgory" -> "category").

    Only the long field names are considered, and not from names that contain one
    ("subcategory"): short ones like ``id`` are too close to real metadata names ("uid").
    """
    lowered = name.lower()
    candidates = [
        f for f in absent if f in ("description", "category", "aliases") and f not in lowered
    ]
    close = difflib.get_close_matches(lowered, candidates, n=1, cutoff=0.8)
    return close[0] if close else None


def _line_endings(text: str) -> str:
    crlf = text.count("\r\n")
    lone_cr = text.count("\r") - crlf
    lone_lf = text.count("\n") - crlf
    kinds = [k for k, n in (("CRLF", crlf), ("LF", lone_lf), ("CR", lone_cr)) if n]
    return "mixed " + "/".join(kinds) if len(kinds) > 1 else (kinds[0] if kinds else "LF")


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


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Builder:
    """Turns records (one per CSV row or YAML entity) into entities, applying the defaults
    and remembering which it applied, then into a set with clashes reported by location."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.entities: list[Entity] = []
        self.labels: list[str] = []
        """Where each entity is, without the file name ("line 3", "entity 2 (line 5)")."""
        self.derived_ids: set[str] = set()
        self.default_category: set[str] = set()
        self.no_description: set[str] = set()

    def add(self, record: dict[str, Any], label: str) -> None:
        where = f"{self.file} {label}"
        data = {k: v for k, v in record.items() if not _blank(v)}
        derived_id = "id" not in data
        if derived_id:
            name = data.get("name")
            data["id"] = slugify(name) if isinstance(name, str) else ""
            if isinstance(name, str) and not data["id"]:
                raise ConfigError(
                    f"{where}: field 'name' {name!r} cannot be turned into an id; "
                    "give an 'id' explicitly"
                )
        data.setdefault("category", UNCATEGORISED)
        try:
            entity = Entity.model_validate(data)
        except ValidationError as e:
            errors = e.errors(include_url=False)
            if "name" not in data:
                message = "field 'name' is empty" if "name" in record else "field 'name' is missing"
            else:
                # When the id was derived, a bad id is only a symptom of a bad name.
                if derived_id and len(errors) > 1:
                    errors = [err for err in errors if err["loc"][:1] != ("id",)]
                message = _describe(errors[0])
            raise ConfigError(f"{where}: {message}") from None
        if derived_id:
            self.derived_ids.add(entity.id)
        if "category" not in record or _blank(record["category"]):
            self.default_category.add(entity.id)
        if not entity.description:
            self.no_description.add(entity.id)
        self.entities.append(entity)
        self.labels.append(label)

    def build(self, fields: dict[str, Any]) -> EntitySet:
        conflicts = find_conflicts(self.entities, label=lambda i: self.labels[i])
        if conflicts:
            first = conflicts[0]
            entity = self.entities[first.index]
            where = f"{self.file} {self.labels[first.index]}"
            if first.field == "id" and entity.id in self.derived_ids:
                raise ConfigError(
                    f"{where}: field 'name' {entity.name!r} gives the id {entity.id!r}, which "
                    f"{self.labels[first.other]} ({self.entities[first.other].name!r}) already "
                    "has; give one of them an explicit 'id'"
                )
            raise ConfigError(f"{where}: field {first.field!r} {first.message}")
        try:
            return EntitySet.model_validate({**fields, "entities": self.entities})
        except ValidationError as e:
            raise ConfigError(f"{self.file}: {_describe(e.errors(include_url=False)[0])}") from None

    def report(self, entity_set: EntitySet, given: set[str], **more: Any) -> LoadReport:
        """``given``: the known fields the file has (CSV columns, or YAML fields of any entity)."""
        return LoadReport(
            size=len(entity_set),
            absent=tuple(f for f in OPTIONAL_FIELDS if f not in given),
            metadata_fields=tuple(entity_set.metadata_fields),
            derived_ids=frozenset(self.derived_ids),
            default_category=frozenset(self.default_category),
            no_description=frozenset(self.no_description),
            **more,
        )


# -- CSV ----------------------------------------------------------------------------------


def _undecodable_byte(value: str) -> int | None:
    match = _UNDECODABLE.search(value)
    return None if match is None else ord(match.group()) - 0xDC00


def _cell(value: str) -> str:
    # The same list saved with Windows or Unix line endings must give the same entities.
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _split_header(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return []


def _choose_delimiter(header: str, hinted: str | None) -> tuple[str, list[str]]:
    """The delimiter whose split of the header has a ``name`` column (the most columns wins
    a tie, comma if all give one), and that split; ``hinted`` (from ``sep=``) is taken as is."""
    if hinted is not None:
        return hinted, _split_header(header, hinted)
    splits = {d: _split_header(header, d) for d in CSV_DELIMITERS}
    with_name = [d for d, cells in splits.items() if "name" in (c.strip().lower() for c in cells)]
    best = max(with_name or CSV_DELIMITERS, key=lambda d: len(splits[d]))
    return best, splits[best]


def _load_csv_text(text: str, file: str, *, set_id: str, encoding: str) -> LoadedEntitySet:
    version = "0"
    hinted: str | None = None
    stream = io.StringIO(text, newline="")
    offset = 0  # physical lines before the header, which the CSV reader does not count
    header_line = ""
    while line := stream.readline():
        stripped = line.strip()
        if byte := _undecodable_byte(line):
            raise ConfigError(
                f"{file} line {offset + 1}: not UTF-8 text (byte 0x{byte:02x}); {_UTF8_HINT}"
            )
        if m := _VERSION_COMMENT.match(stripped):
            version = m.group(1)
        elif m := _SEPARATOR_HINT.match(stripped):
            hinted = m.group(1)
        elif stripped:
            header_line = line
            break
        offset += 1
    if not header_line:
        raise ConfigError(f"{file}: no header line (a 'name' column is required)")
    where_header = f"{file} line {offset + 1}"
    delimiter, header = _choose_delimiter(header_line.rstrip("\r\n"), hinted)
    columns = [c.strip() for c in header]
    lowered = [c.lower() for c in columns]
    if "name" not in lowered:
        found = ", ".join(repr(c) for c in columns if c)
        raise ConfigError(
            f"{where_header}: the header has no 'name' column (found {found or 'none'}); "
            "'name' is the only required column"
        )
    duplicated = sorted({c for c in lowered if c and lowered.count(c) > 1})
    if duplicated:
        raise ConfigError(f"{where_header}: column {duplicated[0]!r} appears twice")
    absent_known = [f for f in ENTITY_FIELDS if f not in lowered]
    for column in columns:
        if (
            column
            and column.lower() not in ENTITY_FIELDS
            and (guess := _misspelt(column, absent_known))
        ):
            raise ConfigError(
                f"{where_header}: unknown column {column!r} (did you mean {guess!r}? other "
                "extra columns are kept as metadata, but not near-misses of known ones)"
            )

    reader = csv.reader(
        io.StringIO(header_line + stream.read(), newline=""), delimiter=delimiter, strict=True
    )
    next(reader)  # the header, already read
    builder = _Builder(file)
    nameless = [i for i, c in enumerate(columns) if not c]
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
        label = f"line {previous_end + 1 + offset}"
        previous_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            shown = "," if delimiter == "\t" else delimiter
            raise ConfigError(
                f"{file} {label}: expected {len(columns)} fields, got {len(row)} (the header "
                f"has {len(columns)} columns; quote values that contain {shown!r})"
            )
        record: dict[str, Any] = {}
        metadata: dict[str, str] = {}
        for index, (column, raw) in enumerate(zip(columns, row, strict=True)):
            value = _cell(raw)
            if byte := _undecodable_byte(value):
                field = repr(column) if column else f"in column {index + 1}"
                raise ConfigError(
                    f"{file} {label}: field {field} is not UTF-8 text (byte 0x{byte:02x}); "
                    f"{_UTF8_HINT}"
                )
            if index in nameless:
                if value:
                    raise ConfigError(
                        f"{file} {label}: column {index + 1} has a value but no name in the header"
                    )
                continue
            if column.lower() in ENTITY_FIELDS:
                record[column.lower()] = value
            elif value:
                metadata[column] = value
        if not record.get("name"):
            raise ConfigError(f"{file} {label}: field 'name' is empty")
        if record.get("aliases"):
            record["aliases"] = record["aliases"].split(ALIAS_SEPARATOR)
        record["metadata"] = metadata
        builder.add(record, label)
    if not builder.entities:
        raise ConfigError(f"{file}: no entities (only a header line)")
    entity_set = builder.build(
        {
            "id": set_id,
            "version": version,
            "description": f"Entities loaded from {Path(file).name}",
            "source": f"user file {Path(file).name}",
        }
    )
    report = builder.report(
        entity_set,
        set(lowered),
        source=file,
        format="CSV",
        fields=tuple(c for c in columns if c),
        delimiter=delimiter,
        encoding=encoding,
        line_endings=_line_endings(text),
        ignored=tuple(f"column {i + 1} (no name, no values)" for i in nameless),
    )
    return LoadedEntitySet(entity_set, report)


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


def _metadata_value(key: str, value: Any, where: str) -> str | None:
    """A YAML metadata value as text; numbers and booleans YAML would reinterpret are refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool | float):
        raise ConfigError(
            f"{where}: field {key!r} is read by YAML as {value!r}; quote it to keep it as "
            "written (extra fields are kept as text metadata)"
        )
    raise ConfigError(
        f"{where}: field {key!r} must be text (extra fields are kept as text metadata)"
    )


def _yaml_record(raw: dict[Any, Any], where: str) -> dict[str, Any]:
    """Known fields as they are; every other field into ``metadata``."""
    record: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    absent_known = [f for f in ENTITY_FIELDS if f not in raw]
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}: field names must be text, not {key!r}")
        if key in ENTITY_FIELDS:
            record[key] = value
            continue
        if guess := _misspelt(key, absent_known):
            raise ConfigError(
                f"{where}: unknown field {key!r} (did you mean {guess!r}? other extra fields "
                "are kept as metadata, but not near-misses of known ones)"
            )
        text = _metadata_value(key, value, where)
        if text is not None and text.strip():
            metadata[key] = text
    if record.get("aliases", []) is None:
        record["aliases"] = []
    record["metadata"] = metadata
    return record


def _load_yaml_text(
    text: str,
    file: str,
    *,
    default_id: str | None = None,
    source: str | None = None,
    encoding: str = "UTF-8",
) -> LoadedEntitySet:
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
    builder = _Builder(file)
    used: dict[str, None] = {}
    for index, raw in enumerate(raw_entities):
        label = f"entity {index + 1}"
        if index < len(lines):
            label += f" (line {lines[index]})"
        if not isinstance(raw, dict):
            raise ConfigError(f"{file} {label}: expected a mapping with at least a name")
        used.update(dict.fromkeys(str(k) for k in raw))
        builder.add(_yaml_record(raw, f"{file} {label}"), label)
    fields = {
        "id": data.get("id", default_id),
        "version": version,
        "description": data.get("description") or "",
        "source": data.get("source") or "",
    }
    if fields["id"] is None:
        raise ConfigError(f"{file}: field 'id' is missing")
    entity_set = builder.build(fields)
    report = builder.report(
        entity_set,
        set(used),
        source=source or file,
        format="YAML",
        fields=tuple(used),
        encoding=encoding,
        line_endings=_line_endings(text),
    )
    return LoadedEntitySet(entity_set, report)
