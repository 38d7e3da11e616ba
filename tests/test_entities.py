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
    Entity,
    EntityMatcher,
    EntitySet,
    list_entity_sets,
    load_entity_set,
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
    (HEADER + ROW_A + "Oxfam,,poverty,\n", "entities.csv line 3: field 'description' is empty"),
    (HEADER + ROW_A + "Oxfam,Poverty work.,,\n", "entities.csv line 3: field 'category' is empty"),
    (
        "name,description,category\n" + "Oxfam,Poverty.,poverty\n",
        "entities.csv line 1: missing column 'aliases'",
    ),
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
        "id: s\nversion: '1'\nentities:\n"
        + ENTITY
        + "  - name: Sierra Club\n    category: climate\n",
        "set.yaml entity 2 (line 7): field 'description' is missing",
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
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((HEADER + "Médecins,x.,y,\n").encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.csv: not UTF-8 text"):
        load_entity_set(str(latin1))


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
