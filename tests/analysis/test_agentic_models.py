"""Agentic analysis on synthetic task runs shaped like the agentic probe's rows: a planted
top-versus-bottom difference is estimated with an interval, a null one is not reported as an
effect, the randomisation test is exact on small cases, and degenerate runs become notes."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.agentic import agentic_analysis, paired_task_difference


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
    assert diff.units == "pp" and diff.n == 69
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


def test_sign_flip_p_is_exact_on_small_cases() -> None:
    rows = pd.DataFrame(
        {
            "task_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "group": ["top", "bottom"] * 4,
            "y": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0],
        }
    )
    diff = paired_task_difference(rows, "top", "bottom", statistic="s", bootstrap=200)
    # Per-task differences: +100, +100, 0, -100 -> mean +25 pp.
    assert diff.estimate == pytest.approx(25.0)
    # Exact: flip the signs of the 3 non-zero differences, count |mean| >= 25.
    nonzero = np.array([100.0, 100.0, -100.0])
    means = [abs((np.array(s) * nonzero).sum() / 4) for s in itertools.product((1, -1), repeat=3)]
    assert diff.p == pytest.approx(np.mean(np.array(means) >= 25.0 - 1e-12))


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
