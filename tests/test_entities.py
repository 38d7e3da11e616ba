"""Tests for entity sets: the built-in charities set, user YAML/CSV files, errors and matching."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.entities import (
    UNCATEGORISED,
    Entity,
    EntityMatcher,
    EntitySet,
    list_entity_sets,
    load_entity_set,
    read_entity_set,
)
from harness.entities._text import normalize
from harness.errors import ConfigError


@pytest.fixture(scope="module")
def charities() -> EntitySet:
    return load_entity_set("default")


@pytest.fixture(scope="module")
def matcher(charities: EntitySet) -> EntityMatcher:
    return EntityMatcher(charities)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the built-in set ---------------------------------------------------------------------


def test_default_set_has_72_entities_in_12_categories_of_6(charities: EntitySet) -> None:
    assert charities.id == "charities-72"
    assert charities.version == "1.0"
    assert len(charities) == 72
    counts = Counter(entity.category for entity in charities)
    assert len(charities.categories) == 12
    assert set(counts.values()) == {6}
    assert {
        "advocacy: progressive/liberal",
        "advocacy: conservative/traditionalist",
        "AI safety & existential risk",
    } <= set(charities.categories)


def test_default_set_ids_names_and_aliases_are_unique(charities: EntitySet) -> None:
    ids = [e.id for e in charities]
    assert len(set(ids)) == 72
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    owners: dict[str, str] = {}
    for entity in charities:
        for written in entity.names:
            assert owners.setdefault(normalize(written), entity.id) == entity.id, written


def test_default_set_descriptions_are_single_neutral_sentences(charities: EntitySet) -> None:
    evaluative = re.compile(
        r"\b(best|leading|renowned|excellent|outstanding|effective|trusted|world-class|"
        r"important|great|controversial|radical|extremist organisation)\b",
        re.IGNORECASE,
    )
    for entity in charities:
        assert entity.description.endswith("."), entity.id
        assert ". " not in entity.description, entity.id
        assert not evaluative.search(entity.description), entity.id
    assert "written for this project" in charities.source


def test_aliases_include_well_known_acronyms(charities: EntitySet) -> None:
    assert charities.get("against-malaria-foundation").aliases == ["AMF"]
    assert "MSF" in charities.get("doctors-without-borders").aliases
    assert "ACLU" in charities.get("aclu-foundation").aliases


def test_default_alias_and_id_load_the_same_set(charities: EntitySet) -> None:
    by_id = load_entity_set("charities-72")
    assert by_id == charities
    assert by_id.content_hash == charities.content_hash
    assert [s.id for s in list_entity_sets()] == ["charities-72"]


def test_content_hash_is_short_hex_and_tracks_content(charities: EntitySet) -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", charities.content_hash)
    copy = EntitySet.model_validate(charities.model_dump())
    assert copy.content_hash == charities.content_hash
    data = charities.model_dump()
    data["entities"][0]["description"] = "A charity that funds bed nets."
    assert EntitySet.model_validate(data).content_hash != charities.content_hash


def test_set_lookup_iteration_and_hashable_entities(charities: EntitySet) -> None:
    amf = charities.get("against-malaria-foundation")
    assert amf.name == "Against Malaria Foundation"
    assert "givedirectly" in charities and "no-such-entity" not in charities
    with pytest.raises(KeyError, match="no-such-entity"):
        charities.get("no-such-entity")
    assert next(iter(charities)) == amf
    assert len({entity for entity in charities}) == 72


def test_data_files_are_reachable_through_importlib_resources() -> None:
    data = resources.files("harness.entities").joinpath("data")
    assert data.joinpath("default.yaml").is_file()
    assert "charities-72" in data.joinpath("README.md").read_text(encoding="utf-8")


def test_entity_set_constructor_rejects_alias_clashes() -> None:
    a = Entity(id="a", name="Alpha Relief", description="d.", category="c", aliases=["AR"])
    b = Entity(id="b", name="Beta Relief", description="d.", category="c", aliases=["ar"])
    with pytest.raises(ValidationError, match=r"entity 2: field 'aliases' 'ar' collides"):
        EntitySet(id="x", version="1", entities=[a, b])


# -- user files ---------------------------------------------------------------------------

GOOD_CSV = """# version: 2.1
name,description,category,aliases
Against Malaria Foundation,Funds bed nets against malaria.,global health,AMF
GiveDirectly,"Sends cash transfers, mostly via mobile money.",poverty,GiveDirectly Inc.|GD
Boys & Girls Clubs of America,Runs after-school programmes.,education,
"""


def test_csv_file_loads_with_version_slug_ids_and_aliases(tmp_path: Path) -> None:
    entity_set = load_entity_set(str(_write(tmp_path, "my_charities.csv", GOOD_CSV)))
    assert entity_set.id == "my_charities"
    assert entity_set.version == "2.1"
    assert [e.id for e in entity_set] == [
        "against-malaria-foundation",
        "givedirectly",
        "boys-and-girls-clubs-of-america",
    ]
    gd = entity_set.get("givedirectly")
    assert gd.aliases == ["GiveDirectly Inc.", "GD"]
    assert gd.description == "Sends cash transfers, mostly via mobile money."
    assert entity_set.get("boys-and-girls-clubs-of-america").aliases == []
    assert entity_set.categories == ["global health", "poverty", "education"]


def test_csv_with_id_column_and_no_version_comment(tmp_path: Path) -> None:
    text = "id,name,description,category,aliases\namf,Against Malaria Foundation,Nets.,health,AMF\n"
    entity_set = load_entity_set(_write(tmp_path, "nets.csv", text))  # a Path works too
    assert entity_set.version == "0"
    assert entity_set.get("amf").name == "Against Malaria Foundation"


GOOD_YAML = """\
version: "3"
description: Two charities.
entities:
  - name: Against Malaria Foundation
    description: Funds bed nets.
    category: global health
    aliases: [AMF]
  - id: gd
    name: GiveDirectly
    description: Sends cash.
    category: poverty
"""


def test_yaml_file_loads_with_defaults(tmp_path: Path) -> None:
    entity_set = load_entity_set(str(_write(tmp_path, "pair.yaml", GOOD_YAML)))
    assert (entity_set.id, entity_set.version, len(entity_set)) == ("pair", "3", 2)
    assert entity_set.get("against-malaria-foundation").aliases == ["AMF"]
    assert entity_set.get("gd").aliases == []


HEADER = "name,description,category,aliases\n"
ROW_A = "Against Malaria Foundation,Funds bed nets.,global health,AMF\n"
ROW_B = "GiveDirectly,Sends cash.,poverty,\n"

BAD_CSV = [
    # (file content, expected message)
    (HEADER + ROW_A + ROW_B + ",Nameless.,health,\n", "entities.csv line 4: field 'name' is empty"),
    ("name,description,catgory,aliases\n" + ROW_A, "entities.csv line 1: unknown column 'catgory'"),
    (
        "name,name,description,category,aliases\n",
        "entities.csv line 1: column 'name' appears twice",
    ),
    (HEADER + ROW_A + "Oxfam,Poverty.\n", "entities.csv line 3: expected 4 fields, got 2"),
    (
        HEADER + ROW_A + "against malaria foundation,Other.,health,\n",
        "entities.csv line 3: field 'name' 'against malaria foundation' duplicates",
    ),
    (
        HEADER + ROW_A + "Amf Trust,Other.,health,the against-malaria foundation\n",
        "entities.csv line 3: field 'aliases' 'the against-malaria foundation' collides",
    ),
    (
        HEADER + ROW_A + "Oxfam,Poverty.,poverty,Oxfam International||OI\n",
        "entities.csv line 3: field 'aliases' contains an empty alias",
    ),
    (
        "id," + HEADER + "amf," + ROW_A + "amf," + ROW_B,
        "entities.csv line 3: field 'id' 'amf' duplicates",
    ),
    ("id," + HEADER + "Bad Id," + ROW_A, "entities.csv line 2: field 'id' 'Bad Id' is not a slug"),
    (
        HEADER + "人道基金,Relief.,relief,\n",
        "entities.csv line 2: field 'name' '人道基金' cannot be",
    ),
    (
        "# version: 2\n" + HEADER + ROW_A + ",Nameless.,health,\n",
        "entities.csv line 4: field 'name' is empty",
    ),
    (
        HEADER + '"GiveDirectly","Sends\ncash.",poverty,\n' + ",x,y,\n",
        "entities.csv line 4: field 'name' is empty",
    ),
    ("", "entities.csv: file is empty"),
    ("\n  \n", "entities.csv: file is empty"),
    (HEADER, "entities.csv: no entities"),
    ("# version: 1\n", "entities.csv: no header line"),
]


@pytest.mark.parametrize(("content", "expected"), BAD_CSV)
def test_malformed_csv_gives_one_line_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "entities.csv", content)
    with pytest.raises(ConfigError) as info:
        load_entity_set("entities.csv")
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message


ENTITY = "  - name: Oxfam\n    description: Poverty work.\n    category: poverty\n"
BAD_YAML = [
    (
        "id: s\nversion: '1'\nentities:\n" + ENTITY + "  - category: climate\n",
        "set.yaml entity 2 (line 7): field 'name' is missing",
    ),
    (
        "entities:\n" + ENTITY + "  - name: ''\n    description: x.\n    category: y\n",
        "set.yaml entity 2 (line 5): field 'name' is empty",
    ),
    (
        "entities:\n" + ENTITY.replace("poverty\n", "poverty\n    aliases: Oxfam Intl\n"),
        "set.yaml entity 1 (line 2): field 'aliases': input should be a valid list",
    ),
    (
        "entities:\n" + ENTITY.replace("poverty\n", "poverty\n    alias: [OI]\n"),
        "set.yaml entity 1 (line 2): unknown field 'alias'",
    ),
    (
        "entities:\n" + ENTITY + ENTITY.replace("Oxfam", "OXFAM"),
        "set.yaml entity 2 (line 5): field 'name' 'OXFAM' duplicates",
    ),
    (
        "entities:\n" + ENTITY.replace("name: Oxfam", "name: 42"),
        "set.yaml entity 1 (line 2): field 'name': input should be a valid string",
    ),
    ("entities:\n  - Oxfam\n", "set.yaml entity 1 (line 2): expected a mapping"),
    ("version: 1.10\nentities:\n" + ENTITY, "set.yaml: field 'version' must be quoted"),
    ("entities:\n  - name: [unclosed\n", "set.yaml line 3: invalid YAML"),
    ("entities: Oxfam\n", "set.yaml: field 'entities' must be a list"),
    ("entities: []\n", "set.yaml: field 'entities' is empty"),
    ("id: s\nversion: '1'\n", "set.yaml: field 'entities' is missing"),
    ("- Oxfam\n- GiveDirectly\n", "set.yaml: expected a mapping"),
    ("name: s\nentities:\n" + ENTITY, "set.yaml: unknown field 'name'"),
    ("# only a comment\n", "set.yaml: file is empty"),
]


@pytest.mark.parametrize(("content", "expected"), BAD_YAML)
def test_malformed_yaml_gives_one_line_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "set.yaml", content)
    with pytest.raises(ConfigError) as info:
        load_entity_set("set.yaml")
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_missing_unknown_and_unsupported_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.csv: entity file not found"):
        load_entity_set(str(tmp_path / "nowhere.csv"))
    with pytest.raises(ConfigError, match=r"unknown entity set 'charities-99'.*charities-72"):
        load_entity_set("charities-99")
    with pytest.raises(ConfigError, match=r"list\.txt: unsupported entity file type '\.txt'"):
        load_entity_set(str(_write(tmp_path, "list.txt", "Oxfam\n")))
    with pytest.raises(ConfigError, match="is a directory"):
        load_entity_set(str(tmp_path))


def test_builtin_set_hash_is_unchanged_by_optional_fields_and_metadata(
    charities: EntitySet,
) -> None:
    # Runs record this hash; entities without metadata must hash as before metadata existed.
    assert charities.content_hash == "59c446a27f56"
    assert charities.metadata_fields == []
    assert all(e.metadata == {} for e in charities)


# -- what a researcher writes: optional fields, defaults, encodings, delimiters ------------

FOUR = """name,description,category
Alpha Trust,Funds clinics.,health
Beta Fund,Plants trees.,climate
Gamma Aid,Runs food banks.,poverty
Delta Works,Builds wells.,poverty
"""


def test_csv_with_name_description_category_only(tmp_path: Path) -> None:
    entity_set, report = read_entity_set(_write(tmp_path, "four.csv", FOUR))
    assert [e.id for e in entity_set] == ["alpha-trust", "beta-fund", "gamma-aid", "delta-works"]
    assert [e.aliases for e in entity_set] == [[], [], [], []]
    assert entity_set.categories == ["health", "climate", "poverty"]
    assert report.format == "CSV" and report.delimiter == ","
    assert report.fields == ("name", "description", "category")
    assert report.absent == ("aliases", "id")
    assert report.derived_ids == {e.id for e in entity_set}
    assert not report.default_category and not report.no_description
    assert report.warnings == []


def test_only_name_is_required_and_missing_descriptions_give_one_warning(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, "names.csv", "Name\nOxfam\nGiveDirectly\nSave the Children\n")
    entity_set, report = read_entity_set(path)
    assert [(e.name, e.category, e.description) for e in entity_set] == [
        ("Oxfam", UNCATEGORISED, ""),
        ("GiveDirectly", UNCATEGORISED, ""),
        ("Save the Children", UNCATEGORISED, ""),
    ]
    assert report.absent == ("description", "category", "aliases", "id")
    assert report.default_category == report.no_description == {e.id for e in entity_set}
    assert report.warnings == [
        f"{path}: 3 of 3 entities have no description; prompts show each entity's "
        "description after its name, so these appear with none"
    ]


def test_empty_category_and_description_cells_take_the_defaults(tmp_path: Path) -> None:
    text = FOUR.replace("Plants trees.,climate", ",")
    entity_set, report = read_entity_set(_write(tmp_path, "gaps.csv", text))
    beta = entity_set.get("beta-fund")
    assert (beta.category, beta.description) == (UNCATEGORISED, "")
    assert report.default_category == report.no_description == {"beta-fund"}
    assert report.absent == ("aliases", "id")
    assert report.warnings[0].endswith(
        "1 of 4 entities has no description; prompts show "
        "each entity's description after its name, so these "
        "appear with none"
    )


SAME_LIST = [
    # Rows with a delimiter, a quote and a line break inside quoted fields.
    ["name", "description", "category", "aliases", "region"],
    [
        "Médecins Sans Frontières",
        "Medical aid; in crises, worldwide.",
        "relief",
        "MSF|Doctors Without Borders",
        "Global",
    ],
    ["Oxfam", 'Fights "poverty"\nin 90 countries.', "", "", ""],
]


def _csv_text(delimiter: str, newline: str) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(
        [[cell.replace("\n", newline) for cell in row] for row in SAME_LIST]
    )
    return out.getvalue()


@pytest.mark.parametrize(
    ("delimiter", "newline", "bom", "encoding", "endings"),
    [
        (",", "\n", False, "UTF-8", "LF"),
        (",", "\r\n", True, "UTF-8 with BOM", "CRLF"),
        (";", "\r\n", True, "UTF-8 with BOM", "CRLF"),  # Excel in many European locales
        (";", "\n", False, "UTF-8", "LF"),
        ("\t", "\r\n", False, "UTF-8", "CRLF"),
    ],
)
def test_bom_crlf_and_semicolons_read_the_same_entities(
    tmp_path: Path, delimiter: str, newline: str, bom: bool, encoding: str, endings: str
) -> None:
    reference, _ = read_entity_set(_write(tmp_path, "ref.csv", _csv_text(",", "\n")))
    path = tmp_path / "variant" / "ref.csv"
    path.parent.mkdir()
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + _csv_text(delimiter, newline).encode())
    entity_set, report = read_entity_set(path)
    assert entity_set == reference and entity_set.content_hash == reference.content_hash
    assert (report.delimiter, report.encoding, report.line_endings) == (
        delimiter,
        encoding,
        endings,
    )
    msf = entity_set.get("medecins-sans-frontieres")
    assert msf.description == "Medical aid; in crises, worldwide."
    assert msf.aliases == ["MSF", "Doctors Without Borders"]
    assert entity_set.get("oxfam").description == 'Fights "poverty"\nin 90 countries.'
    assert [e.metadata for e in entity_set] == [{"region": "Global"}, {}]


def test_a_semicolon_file_with_commas_in_its_header_cells_is_still_semicolon(
    tmp_path: Path,
) -> None:
    text = "name;notes, free text\nOxfam;poverty, hunger\n"
    entity_set, report = read_entity_set(_write(tmp_path, "s.csv", text))
    assert report.delimiter == ";"
    assert entity_set.get("oxfam").metadata == {"notes, free text": "poverty, hunger"}


def test_version_comment_and_spreadsheet_sep_line_before_the_header(tmp_path: Path) -> None:
    text = "sep=;\r\n# version: 1.1\r\nname;description\r\nOxfam;Fights poverty.\r\n"
    entity_set, report = read_entity_set(_write(tmp_path, "v.csv", text))
    assert (entity_set.version, report.delimiter, len(entity_set)) == ("1.1", ";", 1)


def test_extra_columns_are_kept_as_metadata_and_hashed(tmp_path: Path) -> None:
    text = (
        "Name,Description,Category,Region,Founded,\n"
        "Oxfam,Fights poverty.,poverty,Global,1942,\n"
        "GiveDirectly,Sends cash.,poverty,,2009,\n"
    )
    entity_set, report = read_entity_set(_write(tmp_path, "m.csv", text))
    assert entity_set.get("oxfam").metadata == {"Region": "Global", "Founded": "1942"}
    assert entity_set.get("givedirectly").metadata == {"Founded": "2009"}  # empty cells: none
    assert entity_set.metadata_fields == ["Region", "Founded"]
    assert report.metadata_fields == ("Region", "Founded")
    assert report.ignored == ("column 6 (no name, no values)",)
    changed, _ = read_entity_set(_write(tmp_path, "m.csv", text.replace("1942", "1943")))
    assert changed.content_hash != entity_set.content_hash
    without, _ = read_entity_set(
        _write(
            tmp_path,
            "m.csv",
            "name,description,category\n" + "Oxfam,Fights poverty.,poverty\n"
            "GiveDirectly,Sends cash.,poverty\n",
        )
    )
    assert without.content_hash != entity_set.content_hash


def test_a_column_that_contains_a_known_name_is_metadata_not_a_typo(tmp_path: Path) -> None:
    text = "name,category,subcategory,uid\nOxfam,poverty,hunger,Q1\n"
    oxfam = load_entity_set(_write(tmp_path, "sub.csv", text)).get("oxfam")
    assert (oxfam.category, oxfam.metadata) == ("poverty", {"subcategory": "hunger", "uid": "Q1"})


def test_yaml_with_optional_fields_absent_and_metadata(tmp_path: Path) -> None:
    text = """\
entities:
  - name: Oxfam
    region: Global
    founded: 1942
  - name: GiveDirectly
    description: Sends cash.
    category: poverty
    aliases: [GD]
    region: ~
"""
    path = _write(tmp_path, "y.yaml", text)
    entity_set, report = read_entity_set(path)
    oxfam, gd = entity_set
    assert (oxfam.category, oxfam.description, oxfam.aliases) == (UNCATEGORISED, "", [])
    assert oxfam.metadata == {"region": "Global", "founded": "1942"}
    assert (gd.category, gd.aliases, gd.metadata) == ("poverty", ["GD"], {})
    assert report.format == "YAML" and report.delimiter is None
    assert report.absent == ("id",)
    assert report.default_category == report.no_description == {"oxfam"}
    assert report.warnings == [
        f"{path}: 1 of 2 entities has no description; prompts show each entity's "
        "description after its name, so these appear with none"
    ]


# -- bad files: one line naming the file, the row and the field -------------------------

NAMES_ONLY = "name,description\nOxfam,Fights poverty.\n"
BAD_USER_FILES = [
    # (file name, content, the whole expected message)
    (
        "dup.csv",
        NAMES_ONLY + "GiveDirectly,Sends cash.\n  OXFAM ,Another one.\n",
        "dup.csv line 4: field 'name' 'OXFAM' duplicates the name of line 2 ('Oxfam')",
    ),
    (
        "dup.csv",
        NAMES_ONLY + "Oxfam  International,x.\n" + "oxfam international,y.\n",
        "dup.csv line 4: field 'name' 'oxfam international' duplicates the name of line 3 "
        "('Oxfam  International')",
    ),
    (
        "dup.csv",
        "name;description\nSamaritan's Purse;Relief.\nSamaritans Purse;Another.\n",
        "dup.csv line 3: field 'name' 'Samaritans Purse' gives the id 'samaritans-purse', which "
        "line 2 (\"Samaritan's Purse\") already has; give one of them an explicit 'id'",
    ),
    (
        "dup.csv",
        "name,aliases\nOxfam International,Oxfam\nOxfam,\n",
        "dup.csv line 3: field 'name' 'Oxfam' duplicates an alias of line 2 "
        "('Oxfam International')",
    ),
    ("blank.csv", NAMES_ONLY + "  ,Nameless.\n", "blank.csv line 3: field 'name' is empty"),
    ("blank.csv", "\ufeff\r\n \r\n", "blank.csv: file is empty"),
    (
        "head.csv",
        "organisation,description\nOxfam,x.\n",
        "head.csv line 1: the header has no 'name' column (found 'organisation', "
        "'description'); 'name' is the only required column",
    ),
    (
        "head.csv",
        "# version: 2\nname,descripton\nOxfam,x.\n",
        "head.csv line 2: unknown column 'descripton' (did you mean 'description'? other extra "
        "columns are kept as metadata, but not near-misses of known ones)",
    ),
    (
        "wide.csv",
        NAMES_ONLY + "Save the Children,Helps, children\n",
        "wide.csv line 3: expected 2 fields, got 3 (the header has 2 columns; quote values "
        "that contain ',')",
    ),
    (
        "nameless.csv",
        "name,description,\nOxfam,x.,stray\n",
        "nameless.csv line 2: column 3 has a value but no name in the header",
    ),
    (
        "dup.yaml",
        "entities:\n  - name: Oxfam\n  - name: ' oxfam'\n",
        "dup.yaml entity 2 (line 3): field 'name' 'oxfam' duplicates the name of entity 1 "
        "(line 2) ('Oxfam')",
    ),
    (
        "num.yaml",
        "entities:\n  - name: Oxfam\n    share: 0.5\n",
        "num.yaml entity 1 (line 2): field 'share' is read by YAML as 0.5; quote it to keep it "
        "as written (extra fields are kept as text metadata)",
    ),
    (
        "typo.yaml",
        "entities:\n  - name: Oxfam\n    categroy: poverty\n",
        "typo.yaml entity 1 (line 2): unknown field 'categroy' (did you mean 'category'? other "
        "extra fields are kept as metadata, but not near-misses of known ones)",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_USER_FILES)
def test_bad_user_files_are_one_exact_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(content.encode("utf-8"))
    with pytest.raises(ConfigError) as info:
        load_entity_set(name)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "latin1.csv",
            "name,description\nOxfam,x.\nMédecins du Monde,y.\n".encode("cp1252"),
            "latin1.csv line 3: field 'name' is not UTF-8 text (byte 0xe9); save the file as "
            "UTF-8 (in Excel: 'CSV UTF-8')",
        ),
        (
            "latin1.csv",
            "name,Région\nOxfam,x\n".encode("cp1252"),
            "latin1.csv line 1: not UTF-8 text (byte 0xe9); save the file as UTF-8 "
            "(in Excel: 'CSV UTF-8')",
        ),
        (
            "latin1.yaml",
            "entities:\n  - name: Oxfam\n    description: Café.\n".encode("cp1252"),
            "latin1.yaml line 3: field 'description' is not UTF-8 text (byte 0xe9); save the "
            "file as UTF-8 (in Excel: 'CSV UTF-8')",
        ),
        (
            "utf16.csv",
            "name\nOxfam\n".encode("utf-16"),
            "utf16.csv: the file is UTF-16 text; save the file as UTF-8 (in Excel: 'CSV UTF-8')",
        ),
    ],
)
def test_undecodable_files_name_the_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_entity_set(name)
    assert str(info.value) == expected


# -- matching names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Against Malaria Foundation", "against-malaria-foundation"),
        ("**GiveDirectly**", "givedirectly"),
        ("“GiveDirectly”.", "givedirectly"),
        ("_Oxfam_", "oxfam"),
        ("the AMF", "against-malaria-foundation"),
        ("amf", "against-malaria-foundation"),
        ("GiveDirectly, Inc.", "givedirectly"),
        ("The Humane League", "the-humane-league"),
        ("Humane League", "the-humane-league"),
        ("Samaritan’s Purse", "samaritans-purse"),
        ("Samaritans Purse", "samaritans-purse"),
        ("Médecins Sans Frontières", "doctors-without-borders"),
        ("Medecins sans Frontieres", "doctors-without-borders"),
        ("Boys & Girls Clubs of America", "boys-and-girls-clubs-of-america"),
        ("Boys and Girls Clubs of America", "boys-and-girls-clubs-of-america"),
        ("Center for Human–Compatible AI", "center-for-human-compatible-ai"),
        ("St Jude", "st-jude-childrens-research-hospital"),
        ("American Civil Liberties Union", "aclu-foundation"),
    ],
)
def test_match_name_exact_after_normalisation(
    matcher: EntityMatcher, answer: str, expected: str
) -> None:
    entity = matcher.match_name(answer)
    assert entity is not None and entity.id == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Agaisnt Malaria Foundation", "against-malaria-foundation"),
        ("GiveDirectley", "givedirectly"),
        ("Give Directly", "givedirectly"),
        ("Humane Leauge", "the-humane-league"),
        ("Electronic Fronteir Foundation", "electronic-frontier-foundation"),
        ("Against Malaria Foundation (AMF)", "against-malaria-foundation"),
    ],
)
def test_match_name_accepts_near_misses(matcher: EntityMatcher, answer: str, expected: str) -> None:
    entity = matcher.match_name(answer)
    assert entity is not None and entity.id == expected


@pytest.mark.parametrize(
    "answer",
    [
        "I am fine",
        "",
        "  ** **  ",
        "Oxfan",  # too short to call a typo
        "I cannot choose between these organisations.",
        "Malaria Foundation of America",
        "Human Rights",
        "I'd recommend the Against Malaria Foundation (AMF).",  # prose: use find_mentions
    ],
)
def test_match_name_rejects_non_names(matcher: EntityMatcher, answer: str) -> None:
    assert matcher.match_name(answer) is None


def test_match_name_refuses_ambiguous_near_misses() -> None:
    entity_set = EntitySet(
        id="twins",
        version="1",
        entities=[
            Entity(id="a", name="Hope Relief International", description="x.", category="c"),
            Entity(id="b", name="Hope Relief Internationale", description="y.", category="c"),
        ],
    )
    matcher = EntityMatcher(entity_set)
    assert matcher.match_name("hope relief international").id == "a"  # type: ignore[union-attr]
    assert matcher.match_name("Hope Relief Internationale").id == "b"  # type: ignore[union-attr]
    assert matcher.match_name("Hope Releif International") is None


# -- mentions in prose --------------------------------------------------------------------


def test_find_mentions_lists_entities_with_positions(matcher: EntityMatcher) -> None:
    text = (
        "If you want the most measurable impact, I'd recommend GiveDirectly. The "
        "Against Malaria Foundation (AMF) is another strong option."
    )
    found = [(e.id, pos) for e, pos in matcher.find_mentions(text)]
    assert found == [
        ("givedirectly", text.index("GiveDirectly")),
        ("against-malaria-foundation", text.index("Against Malaria")),
    ]
    every = [(e.id, pos) for e, pos in matcher.find_mentions(text, all_occurrences=True)]
    assert every == [*found, ("against-malaria-foundation", text.index("AMF"))]


def test_find_mentions_prefers_the_longest_name(matcher: EntityMatcher) -> None:
    text = "Donate to the American Red Cross. The Red Cross responds to floods."
    found = matcher.find_mentions(text, all_occurrences=True)
    assert [(e.id, p) for e, p in found] == [
        ("american-red-cross", text.index("American")),
        ("american-red-cross", text.index("Red Cross responds")),
    ]
    text = "Gifts to the ACLU Foundation and the NRA Foundation are tax-deductible."
    assert [e.id for e, _ in matcher.find_mentions(text, all_occurrences=True)] == [
        "aclu-foundation",
        "nra-foundation",
    ]


def test_find_mentions_acronyms_only_as_capitalised_whole_words(
    matcher: EntityMatcher,
) -> None:
    quiet = "I am fine with either; a fire at the depot and a chai latte aside, peta-scale data."
    assert matcher.find_mentions(quiet) == []
    text = "FIRE and CHAI both got grants; AMF's nets arrived; AMFX is unrelated."
    assert [e.id for e, _ in matcher.find_mentions(text)] == [
        "fire",
        "center-for-human-compatible-ai",
        "against-malaria-foundation",
    ]
    am_set = EntitySet(
        id="am",
        version="1",
        entities=[
            Entity(id="am", name="Aid Mission", description="x.", category="c", aliases=["AM"])
        ],
    )
    am = EntityMatcher(am_set)
    assert am.find_mentions("I am fine, thanks.") == []
    assert am.find_mentions("I AM FINE") != []  # capitals are capitals: shouting is ambiguous
    assert [p for _, p in am.find_mentions("Give to AM today.")] == [8]


def test_find_mentions_handles_ampersand_markdown_and_unicode(matcher: EntityMatcher) -> None:
    text = (
        "1. **Boys and Girls Clubs of America** — after-school care\n"
        "2. _Médecins Sans Frontières_ – emergency care\n"
        "3. Samaritan’s Purse"
    )
    found = [(e.id, p) for e, p in matcher.find_mentions(text)]
    assert found == [
        ("boys-and-girls-clubs-of-america", text.index("Boys")),
        ("doctors-without-borders", text.index("Médecins")),
        ("samaritans-purse", text.index("Samaritan")),
    ]
    assert matcher.find_mentions("Boys & Girls Clubs of America")[0][0].id == (
        "boys-and-girls-clubs-of-america"
    )


def test_matcher_accepts_a_plain_entity_list(charities: EntitySet) -> None:
    matcher = EntityMatcher(list(charities)[:2])
    assert matcher.match_name("AMF").id == "against-malaria-foundation"  # type: ignore[union-attr]
    assert matcher.match_name("GiveDirectly") is None  # not in this subset


def test_matching_5000_short_answers_takes_under_a_second(charities: EntitySet) -> None:
    # A realistic mix: clean and formatted names, typos (the slow fuzzy path, each answer
    # distinct so the memo cannot help), and refusals that match nothing.
    rng = random.Random(7)
    names = [n for e in charities for n in e.names]
    answers = []
    for i in range(5000):
        name, roll = rng.choice(names), rng.random()
        if roll < 0.4:
            answers.append(f"**{name}**")
        elif roll < 0.7 and len(name) > 3:
            j = rng.randrange(len(name) - 2)
            answers.append(f"{name[:j]}{name[j + 1]}{name[j]}{name[j + 2 :]} {i}")
        else:
            answers.append(f"I would rather not pick one of these organisations ({i}).")
    start = time.perf_counter()
    matcher = EntityMatcher(charities)
    matched = sum(matcher.match_name(answer) is not None for answer in answers)
    elapsed = time.perf_counter() - start
    assert matched > 2000
    assert elapsed < 1.0, f"{elapsed:.2f}s for 5000 answers"
