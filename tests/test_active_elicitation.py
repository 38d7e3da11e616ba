"""Adaptive pairwise elicitation (`--pair-strategy active`): the design's rules, determinism,
the stopping rule, resume (kill -9 and recorded rounds), bad options, and the summary and
analysis of an active run end to end."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from harness.cli import main
from harness.config import RunConfig
from harness.errors import UsageError
from harness.probes import ProbeFailure
from harness.probes._active import ActiveDesign, ActivePlanner, _most_uncertain
from harness.probes.elicitation import PairwiseProbe
from harness.store import Run, RunStore, list_runs


def run_cli(*args: str) -> int:
    return main(list(args))


def only_run(log_dir: Path) -> Path:
    runs = list_runs(log_dir)
    assert len(runs) == 1
    return runs[0].directory


def active_run(log_dir: Path, *extra: str, suite: str = "elicitation") -> Path:
    code = run_cli(
        "run",
        "--suite",
        suite,
        "--pair-strategy",
        "active",
        "--ranking-samples",
        "2",
        "--no-progress",
        "--log-dir",
        str(log_dir),
        *extra,
    )
    assert code == 0
    return only_run(log_dir)


def design(directory: Path) -> dict:
    with Run(directory) as run:
        return run.meta["pairwise_design"]


def round_of(state: dict) -> dict[tuple[str, str], int]:
    return {tuple(q): r["round"] for r in state["rounds"] for q in r["questions"]}


# ----------------------------------------------------------------------------- design rules


def test_budget_is_split_over_rounds_and_round_0_cycles_through_every_entity() -> None:
    active = ActiveDesign.from_options({"pair_strategy": "active"})
    assert active.options() == {
        "pair_strategy": "active",
        "pair_budget": "25%",
        "pair_rounds": 4,
        "pair_orders": "alternate",
        "pair_stop_rho": None,
    }
    # 72 entities: 2,556 pairs, 5,112 full-design queries; 25 % = 1,278 single-order pairs.
    assert active.round_sizes(72, 1) == [320, 320, 319, 319]
    both = ActiveDesign.from_options({"pair_strategy": "active", "pair_orders": "both"})
    assert sum(both.round_sizes(72, 1)) == 639  # each pair costs two queries
    # samples x epochs multiply the cost of a pair; a budget in queries is used as is.
    fixed = ActiveDesign.from_options({"pair_strategy": "active", "pair_budget": "300"})
    assert fixed.round_sizes(72, 2) == [72, 26, 26, 26]  # round 0 needs a 72-pair cycle
    assert ActiveDesign.from_options(
        {"pair_strategy": "active", "pair_budget": "100%", "pair_rounds": 1}
    ).round_sizes(10, 1) == [45]  # never more than every pair
    with pytest.raises(UsageError, match="too small: the first round alone needs 144"):
        ActiveDesign.from_options(
            {"pair_strategy": "active", "pair_budget": "140", "pair_orders": "both"}
        ).round_sizes(72, 1)


def test_round_0_is_connected_near_regular_and_position_balanced() -> None:
    ids = [f"e{i:02d}" for i in range(30)]
    config = RunConfig(suite="elicitation", seed=5)
    active = ActiveDesign.from_options({"pair_strategy": "active", "pair_budget": "40%"})
    planner = ActivePlanner(active, config, ids)
    pairs = planner._first_round(planner.sizes[0])
    assert len(pairs) == planner.sizes[0] == 87
    assert len({frozenset(p) for p in pairs}) == len(pairs)
    degree = Counter(e for p in pairs for e in p)
    assert min(degree.values()) >= 2 and max(degree.values()) - min(degree.values()) <= 4
    index = {e: i for i, e in enumerate(ids)}
    graph = csr_matrix(
        ([1] * len(pairs), ([index[a] for a, _ in pairs], [index[b] for _, b in pairs])),
        shape=(30, 30),
    )
    assert connected_components(graph, directed=False)[0] == 1
    questions = planner._orient(pairs, {"rounds": []})
    balance = Counter()
    for a, b in questions:
        balance[a] += 1
        balance[b] -= 1
    # Greedy balancing: every entity is option A about as often as option B.
    assert max(abs(v) for v in balance.values()) <= 2
    assert sum(v == 0 for v in balance.values()) >= sum(degree[e] % 2 == 0 for e in ids) // 2
    both = ActivePlanner(
        ActiveDesign.from_options({"pair_strategy": "active", "pair_orders": "both"}), config, ids
    )
    assert both._orient([("e01", "e02")], {"rounds": []}) == [["e01", "e02"], ["e02", "e01"]]


def test_the_pair_most_likely_misordered_is_chosen_and_a_round_spreads_over_entities() -> None:
    ids = list("abcdef")
    theta = pd.Series([0.0, 0.1, 3.0, 3.1, -3.0, -1.0], index=ids)
    information = pd.Series([50.0, 50.0, 2.0, 2.0, 5.0, 5.0], index=ids)
    candidates = list(combinations(ids, 2))
    # (c, d) and (a, b) have the same gap, but c and d are far less certain.
    assert _most_uncertain(theta, information, candidates, 1, 1) == [("c", "d")]
    # A distant pair of uncertain entities loses to a close pair of certain ones.
    assert _most_uncertain(theta, information, [("e", "f"), ("a", "b")], 1, 1) == [("a", "b")]
    # Once (c, d) is picked, their information grows: the next picks move elsewhere.
    picked = _most_uncertain(theta, information, candidates, 3, 10)
    assert picked[0] == ("c", "d") and ("a", "b") in picked


# ----------------------------------------------------------------------------- runs


def test_same_seed_gives_the_same_rounds_and_another_seed_other_ones(tmp_path) -> None:
    first = active_run(tmp_path / "a", "--limit", "20", "--seed", "3")
    second = active_run(tmp_path / "b", "--limit", "20", "--seed", "3")
    other = active_run(tmp_path / "c", "--limit", "20", "--seed", "4")
    assert design(first) == design(second)
    assert design(first)["rounds"][0]["questions"] != design(other)["rounds"][0]["questions"]
    with Run(first) as a, Run(second) as b:
        left = a.samples("pairwise").drop(columns="run_id").sort_values("trial_id")
        right = b.samples("pairwise").drop(columns="run_id").sort_values("trial_id")
        assert left.reset_index(drop=True).equals(right.reset_index(drop=True))
        # Every recorded question was asked exactly once, in its recorded order, and only those.
        asked = list(zip(left["entity_a"], left["entity_b"], strict=True))
        assert sorted(asked) == sorted(round_of(design(first)))


def test_budget_stop_and_active_trials_are_the_full_designs_questions(tmp_path) -> None:
    directory = active_run(tmp_path / "runs", "--limit", "16", "--samples", "2", "--epochs", "2")
    state = design(directory)
    # 16 entities, 120 pairs, full design 2 x 120 x 2 x 2 = 960 queries; 25 % = 240 = 60 pairs.
    assert state["round_sizes"] == [16, 15, 15, 14]
    assert state["stopped"] == {"reason": "budget", "after_round": 3}
    assert [len(r["questions"]) for r in state["rounds"]] == state["round_sizes"]
    with Run(directory) as run:
        pairwise = run.samples("pairwise")
        config = RunConfig.model_validate(run.meta["config"])
    assert len(pairwise) == 240 and (pairwise["status"] == "ok").all()
    assert Counter(zip(pairwise["sample"], pairwise["epoch"], strict=True)) == {
        (s, e): 60 for s in (0, 1) for e in (0, 1)
    }
    assert (
        len({frozenset(p) for p in zip(pairwise["entity_a"], pairwise["entity_b"], strict=True)})
        == 60
    )
    # Each round is chosen from the answers of the rounds before it, all of them.
    assert [r["based_on"] for r in state["rounds"]] == [0, 64, 124, 184]
    # An active trial is the full design's trial of the same question: same id, same key.
    full_config = config.model_copy(update={"options": {}})
    context = _context(directory, full_config)
    try:
        full = {t.id: t.key for t in PairwiseProbe(full_config).plan(context)}
    finally:
        context.store.close()
    assert len(full) == 960
    for row in pairwise.itertuples():
        assert full[row.trial_id] == {
            "entity_a": row.entity_a,
            "entity_b": row.entity_b,
            "order": row.order,
            "sample": row.sample,
            "epoch": row.epoch,
            "template_id": row.template_id,
            "template_version": row.template_version,
        }


def _context(directory: Path, config: RunConfig):
    from harness.entities import EntityMatcher, load_entity_set
    from harness.probes import RunContext

    entities = load_entity_set(config.entities)
    return RunContext(
        run_id="x",
        config=config,
        entities=entities,
        matcher=EntityMatcher(entities),
        models={},
        store=RunStore.open(directory),
    )


def test_stability_stops_before_the_budget(tmp_path) -> None:
    directory = active_run(
        tmp_path / "runs",
        "--limit",
        "24",
        "--pair-budget",
        "40%",
        "--pair-rounds",
        "8",
        "--pair-stop-rho",
        "0.9",
    )
    state = design(directory)
    stop = state["stopped"]
    assert stop["reason"] == "stable" and stop["rho"] >= 0.9
    rounds = state["rounds"]
    assert len(rounds) < 8 and stop["after_round"] == len(rounds) - 1
    # Rounds went on while the fits disagreed.
    assert all(r["rho_previous_fit"] < 0.9 for r in rounds[2:])
    with Run(directory) as run:
        assert len(run.samples("pairwise")) == sum(len(r["questions"]) for r in rounds)
        assert len(run.samples("pairwise")) < sum(state["round_sizes"]) == 221


def test_adaptive_probe_is_planned_once_per_round_and_a_full_one_once(
    tmp_path, monkeypatch
) -> None:
    calls = []
    plan = PairwiseProbe.plan

    def counted(self, run):
        calls.append(self.adaptive)
        return plan(self, run)

    monkeypatch.setattr(PairwiseProbe, "plan", counted)
    active_run(tmp_path / "a", "--limit", "12")
    assert calls == [True] * 5  # round 0, rounds 1-3, then the stop
    calls.clear()
    assert run_cli("run", "--limit", "12", "--no-progress", "--log-dir", str(tmp_path / "f")) == 0
    assert calls == [False]


def test_errored_trials_are_not_retried_in_the_same_process_and_are_on_resume(
    tmp_path, monkeypatch
) -> None:
    run = PairwiseProbe.run
    failing = "against-malaria-foundation"

    async def flaky(self, trial, ctx):
        if failing in (trial["entity_a"], trial["entity_b"]):
            raise ProbeFailure("simulated outage")
        return await run(self, trial, ctx)

    monkeypatch.setattr(PairwiseProbe, "run", flaky)
    directory = active_run(tmp_path / "runs", "--limit", "12")
    state = design(directory)
    with Run(directory) as stored:
        pairwise = stored.samples("pairwise")
    errored = pairwise[pairwise["status"] == "error"]
    assert len(errored) >= 2 and state["stopped"]["reason"] == "budget"
    assert len(pairwise) == sum(state["round_sizes"])  # each tried once, none lost
    monkeypatch.setattr(PairwiseProbe, "run", run)
    log_dir = str(tmp_path / "runs")
    assert run_cli("run", "--resume", directory.name, "--log-dir", log_dir, "--no-progress") == 0
    assert design(directory) == state  # recorded decisions are never re-made
    with Run(directory) as stored:
        after = stored.samples("pairwise")
    assert (after["status"] == "ok").all() and set(after["trial_id"]) == set(pairwise["trial_id"])


def _truncate(directory: Path, keep_rounds: int, keep_of_last: int) -> list[str]:
    """Make a finished run look killed mid-round: rounds after ``keep_rounds`` forgotten, only
    ``keep_of_last`` trials of the last kept round stored, no ranking yet. Returns the removed
    trial ids."""
    store = RunStore.open(directory)
    try:
        state = store.meta()["pairwise_design"]
        rounds = round_of(state)
        samples = store.samples_df("pairwise")
        member = [
            rounds[(a, b)] for a, b in zip(samples["entity_a"], samples["entity_b"], strict=True)
        ]
        samples = samples.assign(round=member)
        last = samples[samples["round"] == keep_rounds - 1].iloc[keep_of_last:]
        later = samples[samples["round"] >= keep_rounds]
        ranking = store.samples_df("ranking")["trial_id"]
        removed = [*last["trial_id"], *later["trial_id"], *ranking]
        state = {**state, "rounds": state["rounds"][:keep_rounds], "stopped": None}
        store.set_meta(pairwise_design=state, status="running")
    finally:
        store.close()
    with sqlite3.connect(directory / "run.sqlite") as db:
        for table in ("samples", "calls", "records"):
            db.executemany(f"DELETE FROM {table} WHERE trial_id=?", [(t,) for t in removed])
    return removed


def _same_run(left: Path, right: Path) -> None:
    with Run(left) as a, Run(right) as b:
        x = a.samples().drop(columns="run_id").sort_values("trial_id").reset_index(drop=True)
        y = b.samples().drop(columns="run_id").sort_values("trial_id").reset_index(drop=True)
        assert x.equals(y)
        assert len(a.calls()) == len(b.calls())
        assert a.meta["pairwise_design"] == b.meta["pairwise_design"]
        assert a.meta["status"] == b.meta["status"] == "complete"


def test_resume_mid_round_continues_the_recorded_rounds(tmp_path) -> None:
    clean = active_run(tmp_path / "clean", "--limit", "30")
    copy = tmp_path / "killed" / clean.name
    shutil.copytree(clean, copy)
    removed = _truncate(copy, keep_rounds=2, keep_of_last=40)
    assert removed
    log_dir = str(tmp_path / "killed")
    assert run_cli("run", "--resume", clean.name, "--log-dir", log_dir, "--no-progress") == 0
    _same_run(copy, clean)


def test_a_recorded_round_is_read_back_not_recomputed_from_changed_results(tmp_path) -> None:
    clean = active_run(tmp_path / "clean", "--limit", "30")
    copy = tmp_path / "killed" / clean.name
    shutil.copytree(clean, copy)
    _truncate(copy, keep_rounds=2, keep_of_last=0)
    recorded = design(copy)["rounds"][1]
    # Flip every stored round-0 answer: a planner that re-decided round 1 would choose other pairs.
    with sqlite3.connect(copy / "run.sqlite") as db:
        for trial_id, key, data in db.execute("SELECT trial_id, key, data FROM samples").fetchall():
            key, data = json.loads(key), json.loads(data)
            if data.get("chosen"):
                other = key["entity_b"] if data["chosen"] == key["entity_a"] else key["entity_a"]
                db.execute(
                    "UPDATE samples SET data=? WHERE trial_id=?",
                    (json.dumps({**data, "chosen": other}), trial_id),
                )
    log_dir = str(tmp_path / "killed")
    assert run_cli("run", "--resume", clean.name, "--log-dir", log_dir, "--no-progress") == 0
    assert design(copy)["rounds"][1] == recorded
    assert design(copy)["rounds"][2] != design(clean)["rounds"][2]  # decided from the flips


def test_resume_after_kill_9_matches_an_uninterrupted_run(tmp_path, kill_mid_run) -> None:
    args = [
        "--suite",
        "elicitation",
        "--pair-strategy",
        "active",
        "--pair-budget",
        "30%",
        "--samples",
        "4",
        "--ranking-samples",
        "2",
        "--no-progress",
        "--no-cache",
    ]
    killed_dir = tmp_path / "killed"
    kill_mid_run(args, killed_dir, 2200)  # round 0 is 1,536 queries: this is inside round 1
    directory = only_run(killed_dir)
    state = design(directory)
    assert state["stopped"] is None and len(state["rounds"]) < 4
    log_dir = str(killed_dir)
    assert run_cli("run", "--resume", directory.name, "--log-dir", log_dir, "--no-progress") == 0
    assert run_cli("run", *args, "--log-dir", str(tmp_path / "clean")) == 0
    _same_run(directory, only_run(tmp_path / "clean"))
    with Run(directory) as run:
        assert len(run.samples("pairwise")) == 6132  # 30 % of 4 x 5,112, in whole pairs


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pair-budget", "25%"], "--pair-budget applies only with --pair-strategy active"),
        (["--pair-rounds", "3"], "--pair-rounds applies only with --pair-strategy active"),
        (["--pair-strategy", "active", "--pair-budget", "lots"], "a percentage like 25%"),
        (["--pair-strategy", "active", "--pair-budget", "0%"], "a percentage like 25%"),
        (["--pair-strategy", "active", "--pair-budget", "50"], "first round alone needs 72"),
        (["--pair-strategy", "active", "--pair-rounds", "0"], "--pair-rounds must be at least 1"),
        (["--pair-strategy", "active", "--pair-stop-rho", "1.5"], "must be in (0, 1]"),
        (["--pair-strategy", "sometimes"], "'sometimes' is not one of 'full', 'active'"),
        (["--pair-strategy", "active", "--pair-orders", "random"], "'random' is not one of"),
    ],
)
def test_bad_pair_options_give_one_line_and_write_nothing(tmp_path, capsys, args, message) -> None:
    log_dir = tmp_path / "runs"
    assert run_cli("run", *args, "--log-dir", str(log_dir)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not log_dir.exists() or not list(log_dir.iterdir())


def test_env_defaults_full_is_the_unchanged_default_and_resume_checks_pair_options(
    tmp_path, capsys, monkeypatch
) -> None:
    base = ["run", "--limit", "6", "--ranking-samples", "1", "--no-progress"]
    assert run_cli(*base, "--log-dir", str(tmp_path / "default")) == 0
    assert run_cli(*base, "--pair-strategy", "full", "--log-dir", str(tmp_path / "full")) == 0
    with Run(only_run(tmp_path / "default")) as a, Run(only_run(tmp_path / "full")) as b:
        assert a.meta["config_hash"] == b.meta["config_hash"]
        assert "pairwise_design" not in a.meta
    monkeypatch.setenv("HARNESS_PAIR_STRATEGY", "active")
    monkeypatch.setenv("HARNESS_PAIR_BUDGET", "12")
    assert run_cli(*base, "--log-dir", str(tmp_path / "env")) == 0
    directory = only_run(tmp_path / "env")
    with Run(directory) as run:
        assert run.meta["config"]["options"]["pair_budget"] == 12
        assert len(run.samples("pairwise")) == 12
    monkeypatch.delenv("HARNESS_PAIR_STRATEGY")
    monkeypatch.delenv("HARNESS_PAIR_BUDGET")
    capsys.readouterr()
    log_dir = str(tmp_path / "env")
    code = run_cli("run", "--resume", directory.name, "--pair-budget", "20", "--log-dir", log_dir)
    assert code == 2
    assert "was made with options={'pair_budget': 12}" in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end


def test_active_elicitation_summary_and_analysis_work_unchanged(tmp_path, capsys) -> None:
    from analysis import analyze_run

    directory = active_run(tmp_path / "runs")
    out = capsys.readouterr().out
    assert "active (alternate orders): 1,278 of 5,112 queries (25 %), 4 rounds" in out
    assert "consistency: Spearman ρ (pairwise BT vs ranking)" in out
    assert "preference ladder" in out
    result = analyze_run(directory, bayes=False, bootstrap=50)
    estimates = {e.statistic: e.estimate for e in result.preferences.estimates()}
    assert estimates["consistency_rho"] > 0.8
    assert estimates["split_half_reliability"] > 0.8


def test_active_elicitation_feeds_the_advice_suite(tmp_path, capsys) -> None:
    directory = active_run(tmp_path / "runs", "--limit", "16", suite="advice")
    out = capsys.readouterr().out
    assert "pairwise design" in out and "refusal" in out.lower()
    with Run(directory) as run:
        assert len(run.samples("pairwise")) == 60
        assert len(run.samples("donation")) == 16 * 15
        assert run.meta["status"] == "complete"


def test_dry_run_previews_the_active_budget_and_writes_nothing(tmp_path, capsys) -> None:
    log_dir = tmp_path / "runs"
    code = run_cli(
        "run",
        "--suite",
        "elicitation",
        "--model",
        "openai/gpt-4o",
        "--pair-strategy",
        "active",
        "--pair-budget",
        "20%",
        "--dry-run",
        "--log-dir",
        str(log_dir),
    )
    assert code == 0
    out = capsys.readouterr().out
    pairwise = next(line for line in out.splitlines() if "pairwise" in line and "subject" in line)
    assert "1,023" in pairwise and "5,112" not in pairwise  # 20 % of 5,112, rounded up
    assert not log_dir.exists()
