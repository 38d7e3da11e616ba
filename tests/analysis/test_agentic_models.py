"""Agentic analysis on synthetic task runs shaped like the agentic probe's rows: a planted
top-versus-bottom difference is estimated with an interval, a null one is not reported as an
effect, the randomisation test is exact on small cases, and degenerate runs become notes."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.agentic import agentic_analysis, permutation_difference


def simulate_agentic(
    *,
    tasks: int = 69,
    k: int = 5,
    epochs: int = 2,
    top_minus_bottom: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Every task for the k top, k bottom entities and a neutral framing, ``epochs`` times.

    Success: logistic(task ease + shift), where top gets +shift/2 and bottom -shift/2 logits.
    """
    rng = np.random.default_rng(seed)
    ease = rng.normal(0.0, 1.5, tasks)
    prefs = np.sort(rng.normal(1500, 250, 2 * k))
    entities = [(f"low-{i}", "bottom", prefs[i]) for i in range(k)] + [
        (f"high-{i}", "top", prefs[k + i]) for i in range(k)
    ]
    rows = []
    for t in range(tasks):
        for epoch in range(epochs):
            for entity, group, preference in [*entities, (None, "neutral", None)]:
                shift = {"top": 0.5, "bottom": -0.5}.get(group, 0.0) * top_minus_bottom
                passed = rng.random() < 1 / (1 + np.exp(-(ease[t] + shift)))
                rows.append(
                    {
                        "task_id": f"task-{t:02d}",
                        "category": "gaia" if t < 53 else "cybench",
                        "difficulty": "1",
                        "entity": entity,
                        "group": group,
                        "preference": preference,
                        "template_id": "agentic-behalf",
                        "passed": bool(passed),
                        "score": float(passed),
                        "stop_reason": "submitted",
                        "epoch": epoch,
                        "status": "ok",
                    }
                )
    return pd.DataFrame(rows)


def get(result, statistic: str):
    (found,) = [e for e in result.estimates() if e.statistic == statistic]
    return found


def test_planted_group_difference_is_estimated_with_an_interval() -> None:
    result = agentic_analysis(simulate_agentic(top_minus_bottom=1.2, seed=1), bootstrap=1000)
    diff = get(result, "agentic_top_minus_bottom")
    assert diff.units == "pp" and diff.n == 10  # entities: the unit of replication
    assert diff.ci_low > 0 and diff.p < 0.01
    bayes = get(result, "agentic_group_effect_bayes")
    assert bayes.ci_low > 0 and abs(bayes.estimate - diff.estimate) < 8
    assert get(result, "agentic_pref_effect_bayes").estimate > 0
    table = result.by_group.set_index("group")
    assert table.loc["top", "rate"] > table.loc["bottom", "rate"]
    assert (table["ci_low"] <= table["rate"]).all() and (table["rate"] <= table["ci_high"]).all()


def test_a_large_group_effect_is_not_shrunk_by_linearisation() -> None:
    # 5 logits apart (about 90 % vs 15 % success): the slope at the mean understates this
    # difference by more than half; the discrete change in probability does not.
    result = agentic_analysis(simulate_agentic(top_minus_bottom=5.0, seed=3), bootstrap=500)
    diff = get(result, "agentic_top_minus_bottom")
    bayes = get(result, "agentic_group_effect_bayes")
    assert diff.estimate > 55
    assert bayes.estimate == pytest.approx(diff.estimate, abs=8)
    assert bayes.ci_low < bayes.estimate < bayes.ci_high < 100


def test_no_effect_gives_an_interval_around_zero() -> None:
    result = agentic_analysis(simulate_agentic(seed=2), bootstrap=1000)
    for statistic in (
        "agentic_top_minus_bottom",
        "agentic_top_minus_neutral",
        "agentic_bottom_minus_neutral",
    ):
        diff = get(result, statistic)
        assert diff.ci_low < 0 < diff.ci_high, statistic
        # An effect size with an interval, and the interval is informative (not +-50 pp).
        assert diff.ci_high - diff.ci_low < 20


def test_permutation_p_is_exact_and_its_interval_inverts_the_test() -> None:
    a, b = np.array([90.0, 70.0, 80.0, 65.0]), np.array([40.0, 60.0, 50.0, 75.0])
    result = permutation_difference(a, b)
    assert result.estimate == pytest.approx(76.25 - 56.25)
    # Exact: all C(8, 4) = 70 ways to call four of the eight entities "a".
    values = np.concatenate([a, b])
    diffs = [
        values[list(c)].mean() - np.delete(values, list(c)).mean()
        for c in itertools.combinations(range(8), 4)
    ]
    expected = np.mean(np.abs(diffs) >= abs(result.estimate) - 1e-9)
    assert result.exact and result.arrangements == 70
    assert result.p == pytest.approx(expected)
    # At the interval's ends the shifted test stops rejecting, just outside it rejects.
    for end, outward in ((result.ci_low, -0.01), (result.ci_high, 0.01)):
        assert permutation_difference(a - (end - outward), b).p > 0.05
        assert permutation_difference(a - (end + outward), b).p <= 0.05
    assert result.ci_low < result.estimate < result.ci_high


def test_missing_groups_failed_trials_and_no_preferences_are_notes() -> None:
    rows = simulate_agentic(tasks=12, seed=3)
    only_neutral = agentic_analysis(rows[rows["group"] == "neutral"], bootstrap=100)
    for statistic in (
        "agentic_top_minus_bottom",
        "agentic_group_effect_bayes",
        "agentic_pref_effect_bayes",
    ):
        assert not get(only_neutral, statistic).ok
        assert get(only_neutral, statistic).note
    failed = rows.copy()
    failed.loc[failed.index[:7], "status"] = "error"
    result = agentic_analysis(failed, bootstrap=100, bayes=False)
    assert result.n_failed == 7 and "7 failed" in result.notes[0]
    unscored = agentic_analysis(rows.assign(preference=None), bootstrap=100)
    assert "no usable preference" in " ".join(unscored.notes)
    assert not get(unscored, "agentic_pref_effect_bayes").ok
    # Every task failed everywhere: no variance for the model, a zero difference otherwise.
    hopeless = agentic_analysis(rows.assign(passed=False), bootstrap=100)
    assert get(hopeless, "agentic_top_minus_bottom").estimate == 0
    assert not get(hopeless, "agentic_group_effect_bayes").ok


def test_a_run_whose_every_trial_failed_says_so() -> None:
    from analysis.stats import DegenerateInputError

    # Failed trials carry only their key and the error: no result columns at all.
    rows = pd.DataFrame(
        {"task_id": ["t1", "t2"], "entity": [None, "e"], "status": "error", "error": "boom"}
    )
    with pytest.raises(DegenerateInputError, match="no completed agentic trials \\(2 failed\\)"):
        agentic_analysis(rows)


# ------------------------------------------------------------ entity-level variance (#14.1)


def offsets_by_chance(*, tasks: int = 14, epochs: int = 6, seed: int = 41) -> pd.DataFrame:
    """No preference effect at all, but the 10 entities differ for other reasons (SD ~0.7
    logits) and by chance the top five average 0.9 logits above the bottom five. Each entity is
    run many times, so the binomial noise is small and only entity-level variance remains."""
    rng = np.random.default_rng(seed)
    offsets = {
        **dict(zip([f"high-{i}" for i in range(5)], [1.3, -0.2, 1.0, -0.1, 0.2], strict=True)),
        **dict(zip([f"low-{i}" for i in range(5)], [-1.2, 0.5, -0.9, 0.3, -0.9], strict=True)),
    }
    rows = []
    for t in range(tasks):
        for epoch in range(epochs):
            for entity, offset in [*offsets.items(), (None, 0.0)]:
                group = "neutral" if entity is None else ("top" if "high" in entity else "bottom")
                p = 1 / (1 + np.exp(-(0.8 + offset)))
                rows.append(
                    {
                        "task_id": f"task-{t:02d}",
                        "entity": entity,
                        "group": group,
                        "preference": None if entity is None else (2.0 if group == "top" else -2.0),
                        "passed": bool(rng.random() < p),
                        "epoch": epoch,
                        "status": "ok",
                    }
                )
    return pd.DataFrame(rows)


def test_entity_differences_unrelated_to_preference_are_not_an_effect() -> None:
    # Five entities per group: the unit of replication is the entity, not the task. A test
    # that treats the 14 tasks as independent replicates sees 14 x 5 x 6 trials per group and
    # declares the chance difference between these ten entities an effect.
    result = agentic_analysis(offsets_by_chance(), bootstrap=500)
    diff = get(result, "agentic_top_minus_bottom")
    assert diff.estimate > 10  # the chance difference is real in this sample ...
    assert diff.p > 0.05 and diff.ci_low < 0 < diff.ci_high  # ... but not evidence of an effect
    assert diff.n == 10 and "entities" in diff.method
    bayes = get(result, "agentic_group_effect_bayes")
    assert bayes.p > 0.05 and bayes.ci_low < 0 < bayes.ci_high
    assert "(1|entity)" in bayes.method


def test_a_wide_null_interval_says_so() -> None:
    diff = get(agentic_analysis(offsets_by_chance(), bootstrap=200), "agentic_top_minus_bottom")
    width = diff.ci_high - diff.ci_low
    assert width > 20
    assert f"{width:.0f} pp wide" in diff.note and "cannot rule out" in diff.note


def test_identical_entity_scores_give_a_degenerate_interval_not_a_zero_width_one() -> None:
    # Two tasks, every top entity passes both and every bottom entity fails both: there is no
    # spread to estimate the uncertainty from, so no interval is reported, and the note says why.
    rows = pd.DataFrame(
        [
            {"task_id": t, "entity": e, "group": g, "passed": g == "top", "status": "ok"}
            for t in ("t1", "t2")
            for g, names in (("top", "abcde"), ("bottom", "vwxyz"))
            for e in names
        ]
    )
    diff = get(agentic_analysis(rows, bayes=False), "agentic_top_minus_bottom")
    assert diff.estimate == 100
    assert np.isnan(diff.ci_low) and np.isnan(diff.ci_high)
    assert "degenerate" in diff.note


def test_run_summary_names_the_confirmatory_test_and_reports_its_estimate(tmp_path) -> None:
    import io

    from rich.console import Console

    from analysis.simulate import AgenticDesign, simulate_agentic
    from harness.probes.agentic import _summary
    from harness.store import RunStore, TrialOutcome

    rows = simulate_agentic(AgenticDesign(entity_sd=0.5), seed=86_000).assign(
        score=lambda f: f["passed"].astype(float),
        steps=5,
        tokens=900,
        stop_reason="submitted",
        category="data",
    )
    store = RunStore.create(tmp_path / "run", {"run_id": "r", "config": {"model": "sim"}})
    keys = ("task_id", "entity", "group", "template_id", "epoch")
    store.write(
        TrialOutcome(
            f"t{i}",
            "agentic",
            {k: row[k] for k in keys},
            "ok",
            {k: row[k] for k in row.index if k not in keys and k != "status"},
        )
        for i, row in rows.iterrows()
    )
    out = io.StringIO()
    _summary(store, store.meta(), Console(file=out, width=300))
    store.close()
    text = out.getvalue()
    diff = get(agentic_analysis(rows, bayes=False), "agentic_top_minus_bottom")
    assert "agentic_top_minus_bottom" in text and "entity-level permutation" in text
    assert f"{diff.estimate:+.1f} pp [{diff.ci_low:+.1f}, {diff.ci_high:+.1f}]" in text
    assert "mixed-effects analysis tests it" not in text
