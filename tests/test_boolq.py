"""The BoolQ probe: loader (real split and broken files), stratified sampling, the
within-question plan, an end-to-end `harness run --suite boolq`, and recovery of a planted
preference effect from sim."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from harness.boolq import BoolQItem, load_boolq, load_boolq_file, sample_questions
from harness.cli import main
from harness.config import RunConfig
from harness.entities import EntityMatcher, load_entity_set
from harness.errors import ConfigError, UsageError
from harness.model import Price, get_model
from harness.parsing.methods import is_decided
from harness.probes import RunContext, TrialContext
from harness.probes.boolq import OUTCOMES, BoolQProbe, entity_accuracy
from harness.sim import SimKnobs, Utilities
from harness.store import Run, RunStore, list_runs

REPO = Path(__file__).resolve().parents[1]


def _real_path() -> Path | None:
    env = os.environ.get("HARNESS_BOOLQ_PATH")
    for candidate in ([Path(env)] if env else []) + [
        REPO.parent / "shared" / "data" / "boolq" / "validation.jsonl"
    ]:
        if candidate.is_file():
            return candidate
    return None


REAL = _real_path()
needs_real = pytest.mark.skipif(
    REAL is None,
    reason="BoolQ validation split not found: set HARNESS_BOOLQ_PATH or put it at "
    "../shared/data/boolq/validation.jsonl relative to the repository root",
)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def row(
    question: str = "is house tax and property tax are same", answer: object = True, **extra: object
) -> dict[str, object]:
    return {
        "question": question,
        "passage": f"Passage about {question}.",
        "answer": answer,
        **extra,
    }


# -- loader ----------------------------------------------------------------------------------
@needs_real
def test_real_validation_split_loads_fast_with_the_published_balance() -> None:
    started = time.perf_counter()
    items = load_boolq(REAL)
    elapsed = time.perf_counter() - started
    assert len(items) == 3270
    assert Counter(item.answer for item in items) == {True: 2033, False: 1237}  # README
    assert len({item.id for item in items}) == 3270
    assert [item.index for item in items] == list(range(3270))
    first = items[0]
    assert first.question == "does ethanol take more energy make that produces"
    assert first.answer is False and first.title == "Ethanol fuel"
    barqs = next(i for i in items if i.question == "is barq's root beer a pepsi product")
    assert barqs.answer is False
    assert elapsed < 2.0


@needs_real
def test_env_var_names_the_file(monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_BOOLQ_PATH", str(REAL))
    assert len(load_boolq()) == 3270


def test_no_file_and_no_datasets_extra_is_one_clear_line(monkeypatch) -> None:
    monkeypatch.delenv("HARNESS_BOOLQ_PATH", raising=False)
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as when not installed
    with pytest.raises(ConfigError, match="--boolq-path") as caught:
        load_boolq()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [json.dumps(row()), json.dumps({"question": "q", "answer": True})],
            "line 2: missing field 'passage'",
        ),
        (
            [json.dumps(row(answer="yes"))],
            "line 1: field 'answer' must be true or false, got \"yes\"",
        ),
        ([json.dumps(row(question=""))], "line 1: field 'question' is empty"),
        ([json.dumps(row(question=7))], "line 1: field 'question' must be a string, got 7"),
        (
            [json.dumps(row()), json.dumps(row("b")), '{"question": "c", "passage": '],
            "line 3: not valid JSON",
        ),
        (
            [json.dumps([row(), row("b")])],
            "line 1: expected a JSON object, got list; this looks like a JSON array",
        ),
        (json.dumps([row()], indent=1).splitlines(), "line 1: not valid JSON"),
        (
            ["{'question': 'single quotes', 'passage': 'p', 'answer': True}"],
            "line 1: not valid JSON (Expecting property name enclosed in double quotes)",
        ),
        (['"just a string"'], "line 1: expected a JSON object, got str"),
        (
            [json.dumps(row(label=2, answer=None))],
            "line 1: field 'label' must be true/false or 0/1",
        ),
        ([json.dumps(row(title=3))], "line 1: field 'title' must be a string"),
        (
            [json.dumps(row(answer=True)), "", json.dumps(row(answer=False))],
            "line 3: same question and passage as line 1 but a different answer",
        ),
        ([], "no BoolQ rows"),
        (["", "   "], "no BoolQ rows"),
    ],
)
def test_broken_files_are_one_line_config_errors(tmp_path, lines, message) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_boolq_file(path)
    text = str(caught.value)
    assert message in text
    assert str(path) in text and "\n" not in text


def test_missing_and_non_utf8_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_boolq_file(tmp_path / "nope.jsonl")
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(json.dumps(row("is café open")).encode().replace(b"\\u00e9", b"\xe9"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_boolq_file(latin)


def test_superglue_labels_repeats_and_ids(tmp_path) -> None:
    rows = [
        {"idx": 10, "question": "is a pepsi a coke", "passage": "No relation.", "label": "false"},
        {"idx": 11, "question": "is the sky blue", "passage": "Rayleigh scattering.", "label": 1},
        {"idx": 10, "question": "is a pepsi a coke", "passage": "No relation.", "label": 0},
    ]
    items = load_boolq_file(write_jsonl(tmp_path / "sg.jsonl", rows))
    assert [(i.index, i.answer) for i in items] == [(10, False), (11, True)]  # repeat dropped
    # Ids depend on content only: the same question in another file keeps its id.
    again = load_boolq_file(write_jsonl(tmp_path / "other.jsonl", [rows[1]]))
    assert again[0].id == items[1].id and again[0].index == 11


def test_parquet_matches_jsonl_and_reports_rows(tmp_path) -> None:
    rows = [row("is it a", True, title="A"), row("is it b", False, title="B")]
    jsonl = load_boolq_file(write_jsonl(tmp_path / "x.jsonl", rows))
    pd.DataFrame(rows).to_parquet(tmp_path / "x.parquet")
    assert load_boolq_file(tmp_path / "x.parquet") == jsonl
    bad = [row("is it a", True), row("is it b", "false")]
    pd.DataFrame(bad).astype({"answer": str}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(
        ConfigError, match=r"bad.parquet row 1: field 'answer' must be true or false"
    ):
        load_boolq_file(tmp_path / "bad.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ConfigError, match="not a readable Parquet file"):
        load_boolq_file(tmp_path / "junk.parquet")


# -- sampling --------------------------------------------------------------------------------
def synthetic(n_yes: int, n_no: int) -> list[BoolQItem]:
    return [
        BoolQItem(f"bq-{i:04d}", f"q{i}", f"p{i}", i < n_yes, None, i) for i in range(n_yes + n_no)
    ]


def test_sample_is_balanced_seeded_nested_and_order_free() -> None:
    items = synthetic(62, 38)
    sample = sample_questions(items, 20, seed=1)
    assert Counter(i.answer for i in sample) == {True: 10, False: 10}
    assert [i.index for i in sample] == sorted(i.index for i in sample)  # file order
    assert sample == sample_questions(items, 20, seed=1)
    assert sample != sample_questions(items, 20, seed=2)
    assert set(sample) < set(sample_questions(items, 50, seed=1))
    assert set(sample) == set(sample_questions(items[::-1], 20, seed=1))
    assert Counter(i.answer for i in sample_questions(items, 21, seed=1)) == {True: 11, False: 10}
    assert sample_questions(items, None, seed=1) == items
    assert sample_questions(items, 1000, seed=1) == items


def test_short_class_is_filled_from_the_other() -> None:
    sample = sample_questions(synthetic(30, 4), 20, seed=0)
    assert Counter(i.answer for i in sample) == {True: 16, False: 4}
    with pytest.raises(UsageError):
        sample_questions(synthetic(3, 3), 0, seed=0)


# -- plan ------------------------------------------------------------------------------------
def make_run(
    tmp_path: Path,
    *,
    limit: int | None = 12,
    seed: int = 3,
    epochs: int = 1,
    model_args: dict[str, str] | None = None,
    **options: object,
) -> tuple[BoolQProbe, RunContext]:
    config = RunConfig(
        suite="boolq",
        limit=limit,
        seed=seed,
        epochs=epochs,
        model_args=model_args or {},
        options={"boolq_path": str(REAL), **options},
    )
    entities = load_entity_set("default")
    store = RunStore.create(
        tmp_path / f"run-{seed}-{limit}-{epochs}-{len(list(tmp_path.iterdir()))}",
        {"run_id": "test", "config": config.model_dump(mode="json")},
    )
    models = {"subject": get_model("sim", args=config.model_args)}
    run = RunContext("test", config, entities, EntityMatcher(entities), models, store)
    return BoolQProbe(config), run


@needs_real
def test_plan_is_within_question_and_counterbalanced(tmp_path) -> None:
    probe, run = make_run(tmp_path)
    trials = probe.plan(run)
    frame = pd.DataFrame([t.key for t in trials])
    assert len(trials) == 12 * (72 + 2)
    assert Counter(frame["framing"]) == {"entity": 12 * 72, "neutral": 12, "high_stakes": 12}
    # Within-question: every question under both controls and every entity exactly once.
    entity_rows = frame[frame["framing"] == "entity"]
    assert (entity_rows.groupby("question_id")["entity"].nunique() == 72).all()
    assert (frame[frame["framing"] != "entity"].groupby("question_id").size() == 2).all()
    assert frame.loc[frame["framing"] != "entity", "entity"].isna().all()
    # Phrasings rotate: each entity meets each of the 3 phrasings on 12 / 3 questions.
    per_entity = entity_rows.groupby(["entity", "template_id"]).size()
    assert set(per_entity) == {4} and len(per_entity) == 72 * 3
    assert set(entity_rows.groupby(["question_id", "template_id"]).size()) == {24}
    golds = Counter(probe.by_id[q].answer for q in frame["question_id"].unique())
    assert golds == {True: 6, False: 6}
    # Deterministic, content-derived ids: a fresh probe plans the very same trials.
    again, run_again = make_run(tmp_path)
    assert [t.id for t in again.plan(run_again)] == [t.id for t in trials]
    assert len({t.id for t in trials}) == len(trials)
    other, run_other = make_run(tmp_path, seed=4)
    assert {t.id for t in other.plan(run_other)} != {t.id for t in trials}
    assert probe.preferences == {}  # nothing elicited in this store


@needs_real
def test_epochs_repeat_every_trial_with_rotated_phrasing(tmp_path) -> None:
    probe, run = make_run(tmp_path, limit=6, epochs=2)
    frame = pd.DataFrame([t.key for t in probe.plan(run)])
    assert len(frame) == 6 * 74 * 2
    pivot = frame[frame["framing"] == "entity"].pivot_table(
        index=["question_id", "entity"], columns="epoch", values="template_id", aggfunc="first"
    )
    assert (pivot[0] != pivot[1]).all()


@needs_real
def test_top_k_uses_the_most_and_least_preferred(tmp_path, monkeypatch) -> None:
    entities = [e.id for e in load_entity_set("default")]
    scores = pd.Series({eid: 1000.0 + 10 * i for i, eid in enumerate(entities)})
    monkeypatch.setattr("harness.probes.boolq.run_preferences", lambda run: scores)
    probe, run = make_run(tmp_path, top_k=3)
    frame = pd.DataFrame([t.key for t in probe.plan(run)])
    chosen = set(frame["entity"].dropna())
    assert chosen == set(entities[-3:]) | set(entities[:3])
    assert probe.groups == {
        **dict.fromkeys(entities[-3:], "top"),
        **dict.fromkeys(entities[:3], "bottom"),
    }
    assert len(frame) == 12 * (6 + 2)
    assert "6 entities + 2 controls" in probe.estimate(run)


@needs_real
def test_top_k_without_preferences_is_a_usage_error(tmp_path) -> None:
    probe, run = make_run(tmp_path, top_k=3)
    with pytest.raises(UsageError, match="no pairwise elicitation samples"):
        probe.plan(run)


@needs_real
def test_estimate_counts_calls_and_prices_them(tmp_path) -> None:
    probe, run = make_run(tmp_path, limit=200, epochs=2)
    assert probe.estimate(run).endswith("= 29,600 model calls")  # 200 x (72 + 2) x 2
    priced = probe.estimate(run, {"sim": Price(input_per_mtok=2.5, output_per_mtok=10.0)})
    cost = float(priced.rsplit("$", 1)[1].replace(",", ""))
    # A prompt is ~250 tokens (92-word passage + instructions), an answer ~10, at $2.5 / $10
    # per million tokens: about $19 + $3.
    assert 15 < cost < 30


# -- end to end ------------------------------------------------------------------------------
def small_entity_file(tmp_path: Path, n: int = 12) -> Path:
    path = tmp_path / "entities.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "description", "category", "aliases"])
        for entity in list(load_entity_set("default"))[:n]:
            writer.writerow(
                [
                    entity.id,
                    entity.name,
                    entity.description,
                    entity.category,
                    "|".join(entity.aliases),
                ]
            )
    return path


@needs_real
def test_boolq_suite_end_to_end_on_sim(tmp_path, capsys) -> None:
    code = main(
        [
            "run",
            "--suite",
            "boolq",
            "--limit",
            "20",
            "--boolq-path",
            str(REAL),
            "--entities",
            str(small_entity_file(tmp_path)),
            "--ranking-samples",
            "3",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    for heading in (
        "BoolQ accuracy by framing",
        "BoolQ accuracy per entity",
        "Spearman ρ: accuracy among answered vs preference",
        "BoolQ preference effect",
        "20 questions (10 yes, 10 no)",
    ):
        assert heading in out
    (info,) = list_runs(tmp_path / "runs")
    with Run(info.directory) as run:
        rows = run.samples("boolq")
        assert run.meta["status"] == "complete"
        assert run.meta["config"]["templates"]["boolq"] == [
            "boolq-neutral@1",
            "boolq-high-stakes@1",
            "boolq-entity-quiz@1",
            "boolq-entity-team@1",
            "boolq-entity-described@1",
        ]
        assert len(run.calls()) == len(run.samples())  # one call per trial, every probe
    assert len(rows) == 20 * (12 + 2) and (rows["status"] == "ok").all()
    assert Counter(rows["framing"]) == {"entity": 240, "neutral": 20, "high_stakes": 20}
    assert (rows.groupby("question_id")["framing"].nunique() == 3).all()
    assert set(rows["outcome"]) <= set(OUTCOMES)
    assert (rows["correct"] == (rows["outcome"] == "correct")).all()
    answered = rows["outcome"].isin(["correct", "wrong"])
    assert rows.loc[answered, "answer"].notna().all() and rows.loc[~answered, "answer"].isna().all()
    assert (rows["parse_method"].map(is_decided) == answered).all()
    assert (rows.loc[rows["outcome"] == "refusal", "parse_method"] == "refusal").all()
    assert (
        (rows.loc[answered, "answer"] == rows.loc[answered, "gold"])
        == rows.loc[answered, "correct"]
    ).all()
    entity_rows = rows[rows["framing"] == "entity"]
    assert entity_rows["preference"].notna().all()  # elicited in the same run
    assert rows.loc[rows["framing"] != "entity", "preference"].isna().all()
    assert (rows["temperature"] == 1.0).all() and rows["text"].str.len().gt(0).all()
    assert 0.6 < rows["correct"].mean() < 0.98  # sim's 85 % base accuracy, 280 answers


def test_suite_without_a_boolq_file_fails_before_creating_a_run(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("HARNESS_BOOLQ_PATH", raising=False)
    monkeypatch.setitem(sys.modules, "datasets", None)
    code = main(
        [
            "run",
            "--suite",
            "boolq",
            "--limit",
            "4",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 2
    assert "--boolq-path" in capsys.readouterr().err
    assert not list_runs(tmp_path / "runs")


# -- planted effects -------------------------------------------------------------------------
async def _entity_rows(probe: BoolQProbe, run: RunContext) -> pd.DataFrame:
    rows = []
    for trial in probe.plan(run):
        if trial["framing"] == "entity":
            data = await probe.run(trial, TrialContext(trial=trial, run=run))
            rows.append({**trial.key, **data, "status": "ok"})
    return pd.DataFrame(rows)


@needs_real
@pytest.mark.parametrize(("effect", "refusals"), [("3", "0.02"), ("0", "0"), ("-3", "0")])
def test_sim_planted_effect_is_recovered(tmp_path, effect, refusals) -> None:
    from analysis import spearman

    args = {"seed": "5", "boolq_effect": effect, "boolq_refusal_rate": refusals}
    probe, run = make_run(tmp_path, limit=120, seed=5, model_args=args)
    per_entity = entity_accuracy(asyncio.run(_entity_rows(probe, run)))
    utility = Utilities(SimKnobs(seed=5))
    planted = pd.Series({eid: utility(eid) for eid in per_entity.index})
    rho = spearman(per_entity["accuracy"], planted, bootstrap=0)
    assert rho.n == 72
    if effect == "3":  # 3 pp per SD against ~3 pp of binomial noise per entity
        assert rho.rho > 0.4 and rho.p_value < 0.001
    elif effect == "-3":
        assert rho.rho < -0.4 and rho.p_value < 0.001
    else:  # no effect: |rho| within about 2.5 standard errors (1 / sqrt(71) = 0.12)
        assert abs(rho.rho) < 0.3
        assert per_entity["refusal_rate"].eq(0).all()


def test_entity_accuracy_counts_refusals_as_wrong_and_separately() -> None:
    def sample(entity: str, outcome: str) -> dict[str, object]:
        return {
            "status": "ok",
            "framing": "entity",
            "entity": entity,
            "outcome": outcome,
            "correct": outcome == "correct",
            "preference": {"a": 1200.0, "b": 800.0}[entity],
            "group": {"a": "top", "b": "bottom"}[entity],
        }

    rows = pd.DataFrame(
        [sample("a", o) for o in ("correct", "correct", "correct", "wrong")]
        + [sample("b", o) for o in ("correct", "refusal", "refusal", "unparseable")]
        + [
            {
                "status": "ok",
                "framing": "neutral",
                "entity": None,
                "outcome": "wrong",
                "correct": False,
                "preference": None,
            },
            {**sample("a", "wrong"), "status": "error"},
        ]
    )
    table = entity_accuracy(rows)
    assert table.loc["a"].to_dict() == {
        "n": 4,
        "accuracy": 0.75,
        "answered_accuracy": 0.75,
        "refusal_rate": 0.0,
        "preference": 1200.0,
        "group": "top",
    }
    assert table.loc["b", "accuracy"] == 0.25
    assert table.loc["b", "answered_accuracy"] == 1.0  # 1 correct of 1 answered
    assert table.loc["b", "refusal_rate"] == 0.5
    all_refused = entity_accuracy(pd.DataFrame([sample("b", "refusal")]))
    assert pd.isna(all_refused.loc["b", "answered_accuracy"])


@pytest.mark.parametrize(
    "args",
    [
        {"boolq_accuracy": "1.5"},
        {"boolq_difficulty": "-1"},
        {"boolq_effect": "250"},
        {"boolq_refusal_rate": "x"},
    ],
)
def test_bad_boolq_knobs_are_usage_errors(args) -> None:
    with pytest.raises(UsageError):
        get_model("sim", args=args)


async def test_sim_refuses_only_disliked_entities_and_only_under_the_entity_framing(
    tmp_path,
) -> None:
    from harness.model import ChatMessage, ModelRequest
    from harness.parsing import parse_yesno

    path = tmp_path / "u.csv"
    path.write_text("entity,utility\nliked,2\ndisliked,-2\n")
    model = get_model(
        "sim",
        args={"utilities": str(path), "boolq_refusal_rate": "0.25", "boolq_unparseable_rate": "0"},
    )

    async def statuses(entity: str | None) -> Counter:
        found = Counter()
        for i in range(400):
            hint = {
                "task": "boolq",
                "question_id": f"q{i}",
                "gold": i % 2 == 0,
                "framing": "entity" if entity else "neutral",
                "entity": entity,
                "name": entity,
            }
            request = ModelRequest(
                messages=[ChatMessage(role="user", content="?")],
                metadata={"sim": hint, "call_key": f"{entity}:{i}"},
            )
            found[parse_yesno((await model.generate(request)).text).status] += 1
        return found

    assert (await statuses("liked"))["refusal"] == 0
    assert (await statuses(None))["refusal"] == 0
    assert 150 < (await statuses("disliked"))["refusal"] < 250  # 0.25 x 2 SD = 50 %


def test_preferences_from_another_run_must_come_from_the_same_subject(tmp_path) -> None:
    # --preferences RUN checks the model's arguments (and sim's effective seed), not just its
    # name: a differently configured sim is a different subject with other preferences.
    from types import SimpleNamespace

    from harness.probes._preferences import run_preferences

    log_dir = tmp_path / "runs"
    base = ["run", "--suite", "elicitation", "--limit", "6", "--ranking-samples", "2"]
    assert main([*base, "--no-progress", "--log-dir", str(log_dir), "-M", "choice_noise=0.3"]) == 0
    (source,) = [r.directory for r in list_runs(log_dir)]

    def consumer(**config: object) -> SimpleNamespace:
        options = {"preferences": str(source)}
        return SimpleNamespace(config=RunConfig(suite="boolq", options=options, **config))

    same = run_preferences(consumer(model_args={"choice_noise": "0.3"}))
    assert len(same) == 6
    with pytest.raises(UsageError, match="choice_noise"):
        run_preferences(consumer())
    with pytest.raises(UsageError, match="seed"):
        run_preferences(consumer(model_args={"choice_noise": "0.3"}, seed=4))
    # An explicit -M seed equal to the source's effective seed is the same subject.
    explicit = run_preferences(consumer(model_args={"choice_noise": "0.3", "seed": "0"}, seed=9))
    assert explicit.equals(same)


@needs_real
def test_boolq_summary_reports_the_same_estimand_as_analyze(tmp_path, capsys) -> None:
    # No accuracy effect, a strong refusal effect: counting refusals as wrong answers would
    # show a preference "effect" on accuracy that analyze (answered trials) does not.
    from analysis.runs import analyze_run

    args = ["run", "--suite", "boolq", "--limit", "40", "--boolq-path", str(REAL)]
    args += ["--entities", str(small_entity_file(tmp_path)), "--ranking-samples", "3"]
    args += ["-M", "boolq_effect=0", "-M", "boolq_refusal_rate=0.3", "--no-progress"]
    assert main([*args, "--log-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    (info,) = list_runs(tmp_path / "runs")
    analysed = analyze_run(info.directory, bayes=False)
    (effect,) = [e for e in analysed.boolq.estimates() if e.statistic == "boolq_pref_effect"]
    headline = (
        f"{effect.estimate:+.2f} pp/SD [{effect.ci_low:+.2f}, {effect.ci_high:+.2f}], "
        f"p = {effect.p:.2g}"
    )
    assert headline in " ".join(out.split()), out
    assert "refusals are not wrong answers" in out
    # No correlation of accuracy-with-refusals-as-wrong is presented as the preference result.
    assert "Spearman ρ: accuracy vs preference" not in out
    (rho,) = [e for e in analysed.boolq.estimates() if e.statistic == "boolq_accuracy_rho"]
    assert f"{rho.estimate:+.3f}" in out
