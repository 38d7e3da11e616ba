"""Validation of preference scoring and consistency against planted utilities and hand cases."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from analysis import (
    ELO_PER_LOGIT,
    DegenerateInputError,
    bradley_terry,
    consistency,
    elo_scores,
    ranking_scores,
    spearman,
)

LOG3_ELO = 400 * math.log10(3)  # 3:1 odds on the Elo scale


def pairs(rows: list[tuple[str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["entity_a", "entity_b", "chosen"])


def centred_elo(truth: pd.Series) -> pd.Series:
    return 1500 + ELO_PER_LOGIT * (truth - truth.mean())


# ------------------------------------------------------------------------ planted populations


@pytest.mark.parametrize("samples", [1, 2, 3])
def test_bt_recovers_true_ordering(simulate, utilities, truth_of, samples):
    df = simulate(utilities, samples=samples, position_bias=0.4, unparseable=0.05, seed=samples)
    result = bradley_terry(df, bootstrap=0)
    assert spearman(result.score, truth_of(utilities), bootstrap=0).rho >= 0.9


def test_bt_recovers_ordering_of_thurstone_population(simulate, utilities, truth_of):
    # Probit choice model: BT is misspecified but must still order entities correctly.
    df = simulate(utilities, samples=2, position_bias=0.3, unparseable=0.05, link="probit")
    result = bradley_terry(df, bootstrap=0)
    assert spearman(result.score, truth_of(utilities), bootstrap=0).rho >= 0.9


def test_elo_and_bt_agree(simulate, utilities):
    df = simulate(utilities, samples=2, position_bias=0.4, unparseable=0.05)
    rho = spearman(bradley_terry(df, bootstrap=0).score, elo_scores(df), bootstrap=0).rho
    assert rho > 0.95


def test_elo_mean_stays_at_initial_rating(simulate, utilities):
    elo = elo_scores(simulate(utilities, unparseable=0.05), permutations=20)
    assert elo.mean() == pytest.approx(1500.0)
    assert elo.name == "elo" and elo.is_monotonic_decreasing


def test_bt_confidence_intervals_cover_truth(simulate, utilities, truth_of):
    df = simulate(utilities, samples=2, position_bias=0.4, unparseable=0.05, seed=7)
    scores = bradley_terry(df, bootstrap=200, seed=3).scores.set_index("entity")
    truth = centred_elo(truth_of(utilities)).loc[scores.index]
    covered = (scores["ci_low"] <= truth) & (truth <= scores["ci_high"])
    assert covered.mean() >= 0.85
    inside = (scores["ci_low"] < scores["score"]) & (scores["score"] < scores["ci_high"])
    assert inside.all()


def test_bt_scores_are_on_the_elo_scale(simulate, utilities, truth_of):
    # Slope 1 against the true utilities in Elo points; the position term prevents the
    # attenuation a plain BT fit suffers when option A has a large planted advantage.
    df = simulate(utilities, samples=3, position_bias=1.5, seed=11)
    truth = centred_elo(truth_of(utilities))

    def slope(result) -> float:
        s = result.score
        return float(np.polyfit(truth.loc[s.index], s, 1)[0])

    assert slope(bradley_terry(df, bootstrap=0)) == pytest.approx(1.0, abs=0.1)
    assert slope(bradley_terry(df, bootstrap=0, position_effect=False)) < 0.85


@pytest.mark.parametrize("bias", [0.0, 0.5])
def test_position_bias_matches_planted(simulate, utilities, bias):
    df = simulate(utilities, samples=2, position_bias=bias, unparseable=0.1, seed=5)
    n = len(utilities)
    a, b = np.nonzero(~np.eye(n, dtype=bool))
    expected_rate = expit(utilities[a] - utilities[b] + bias).mean()
    report = consistency(df, seed=1, splits=2)
    assert report.position_bias_rate == pytest.approx(expected_rate, abs=0.015)
    assert report.unparseable_rate == pytest.approx(0.1, abs=0.015)
    low, high = bradley_terry(df, bootstrap=100).position_bias_ci
    assert low <= bias * ELO_PER_LOGIT <= high
    if bias:
        assert report.position_bias_p < 1e-10
    else:
        assert report.position_bias_p > 0.01


def test_transitivity_low_for_clean_data_and_random_level_for_noise(simulate):
    rng = np.random.default_rng(2)
    clean = consistency(simulate(rng.normal(0, 4, 72), samples=3, position_bias=0.3), seed=0)
    noisy = consistency(simulate(rng.normal(0, 0.02, 72), samples=3), seed=0)
    coin = consistency(simulate(np.zeros(72), samples=3, seed=9), seed=0)
    assert clean.intransitive_rate < 0.01
    assert noisy.intransitive_rate > 0.15
    # A random tournament on three nodes is a cycle with probability 2/8.
    assert coin.intransitive_rate == pytest.approx(0.25, abs=0.03)
    assert coin.n_triads + coin.n_triads_undecided == 10_000


def test_split_half_reliability_predicts_test_retest(simulate, utilities):
    # Spearman–Brown corrected split-half should estimate the correlation between two
    # independent full-length replications of the experiment.
    u = utilities * 0.35
    reps = [simulate(u, samples=2, seed=s) for s in range(4)]
    scores = [bradley_terry(df, bootstrap=0).score for df in reps]
    retest = np.mean(
        [spearman(scores[i], scores[j], bootstrap=0).rho for i in range(4) for j in range(i)]
    )
    report = consistency(reps[0], seed=0, splits=30)
    assert report.split_unit == "sample" and report.n_splits == 30
    assert report.split_half_raw < report.split_half_reliability
    assert report.split_half_reliability == pytest.approx(retest, abs=0.07)
    assert 0.5 < retest < 0.95  # the regime where the correction matters


def test_split_half_falls_back_to_trials_with_one_sample(simulate, utilities):
    report = consistency(simulate(utilities, samples=1), seed=0, splits=5)
    assert report.split_unit == "trial"
    assert report.split_half_reliability > 0.8


def test_method_agreement_high_for_shared_utilities_and_null_otherwise(
    simulate, simulate_ranks, utilities
):
    df = simulate(utilities, samples=2, position_bias=0.4, unparseable=0.05)
    same = simulate_ranks(utilities, samples=5, missing=0.05)
    other = simulate_ranks(np.random.default_rng(99).normal(0, 1, 72), samples=5)
    agree = consistency(df, same, seed=0, splits=2).method_agreement
    null = consistency(df, other, seed=0, splits=2).method_agreement
    assert agree.rho > 0.8 and agree.ci_low > 0.7 and agree.n == 72
    assert null.ci_low < 0 < null.ci_high and abs(null.rho) < 0.35


def test_consistency_without_ranking_has_no_method_agreement(simulate, utilities):
    assert consistency(simulate(utilities), None, seed=0, splits=2).method_agreement is None


def test_consistency_is_deterministic_given_seed(simulate, simulate_ranks, utilities):
    df, ranks = simulate(utilities, samples=3), simulate_ranks(utilities)
    first = consistency(df, ranks, seed=4, splits=5).to_dict()
    assert consistency(df, ranks, seed=4, splits=5).to_dict() == first
    assert consistency(df, ranks, seed=5, splits=5).to_dict() != first


# ------------------------------------------------------------------------------- hand cases


def test_bt_two_entities_three_wins_to_one():
    df = pairs([("x", "y", "x"), ("x", "y", "x"), ("y", "x", "x"), ("y", "x", "y")])
    plain = bradley_terry(df, position_effect=False, ridge=1e-9, bootstrap=0).score
    assert plain["x"] - plain["y"] == pytest.approx(LOG3_ELO, abs=1e-4)
    assert plain.mean() == pytest.approx(1500.0)
    exact = bradley_terry(df, position_effect=False, ridge=1e-9, bootstrap=0)
    assert exact.log_likelihood == pytest.approx(3 * math.log(0.75) + math.log(0.25), abs=1e-6)
    # The default ridge shrinks the difference slightly towards 0, and only slightly.
    shrunk = bradley_terry(df, position_effect=False, bootstrap=0).score
    assert 0 < LOG3_ELO - (shrunk["x"] - shrunk["y"]) < 3


def test_bt_position_effect_hand_cases():
    # x chosen 3 of 4 in both orders: pure preference, no position effect.
    balanced = pairs(
        [("x", "y", "x")] * 3 + [("x", "y", "y")] + [("y", "x", "x")] * 3 + [("y", "x", "y")]
    )
    fit = bradley_terry(balanced, ridge=1e-9, bootstrap=0)
    assert fit.score["x"] - fit.score["y"] == pytest.approx(LOG3_ELO, abs=1e-3)
    assert fit.position_bias == pytest.approx(0.0, abs=1e-6)
    # Option A chosen 3 of 4 in both orders: pure position effect, no preference.
    first = pairs(
        [("x", "y", "x")] * 3 + [("x", "y", "y")] + [("y", "x", "y")] * 3 + [("y", "x", "x")]
    )
    fit = bradley_terry(first, ridge=1e-9, bootstrap=0)
    assert fit.score["x"] - fit.score["y"] == pytest.approx(0.0, abs=1e-6)
    assert fit.position_bias == pytest.approx(LOG3_ELO, abs=1e-3)


def test_bt_perfectly_separated_data_stays_finite():
    names = ["top", "b", "c", "d", "bottom"]
    rng = np.random.default_rng(0)
    rows = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                for _ in range(3):
                    # Lower index always wins: a perfectly separated total order.
                    rows.append((a, b, a if i < j else b))
    df = pairs(rows).sample(frac=1.0, random_state=int(rng.integers(1000)))
    result = bradley_terry(df, bootstrap=50)
    table = result.scores
    assert np.isfinite(table[["score", "ci_low", "ci_high"]].to_numpy()).all()
    assert table["entity"].tolist() == names
    assert table.loc[table.entity == "top", "wins"].item() == 24
    assert table.loc[table.entity == "bottom", "wins"].item() == 0
    assert (table["comparisons"] == 24).all()


def test_unparseable_rows_are_excluded_not_losses(simulate, utilities):
    df = simulate(utilities, samples=1)
    top = df["entity_a"].iloc[int(np.argmax(utilities)) * 71]  # rows are grouped by entity_a
    junk = pd.DataFrame(
        {
            "entity_a": top,
            "entity_b": df["entity_b"].iloc[:300].to_numpy(),
            "chosen": None,
            "sample": 0,
            "model": "model-x",
        }
    ).query("entity_b != @top")
    noisy = pd.concat([df, junk], ignore_index=True)
    clean_bt, noisy_bt = bradley_terry(df, bootstrap=20), bradley_terry(noisy, bootstrap=20)
    pd.testing.assert_frame_equal(clean_bt.scores, noisy_bt.scores)
    assert noisy_bt.n_unparseable == len(junk) and noisy_bt.n_comparisons == len(df)
    pd.testing.assert_series_equal(
        elo_scores(df, permutations=10), elo_scores(noisy, permutations=10)
    )
    assert consistency(noisy, seed=0, splits=2).unparseable_rate == pytest.approx(
        len(junk) / len(noisy)
    )


def test_results_do_not_depend_on_row_order(simulate, utilities):
    df = simulate(utilities[:20], samples=2, unparseable=0.1, position_bias=0.2)
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        bradley_terry(df, bootstrap=30).scores, bradley_terry(shuffled, bootstrap=30).scores
    )
    pd.testing.assert_series_equal(
        elo_scores(df, permutations=10), elo_scores(shuffled, permutations=10)
    )


def test_elo_single_match_and_order_averaging():
    one = elo_scores(pairs([("x", "y", "x")]), permutations=1)
    assert one.to_dict() == {"x": 1516.0, "y": 1484.0}
    # x wins then loses: the loser of the first match gains more back in the second.
    back = 32 * (1 - 1 / (1 + 10 ** (32 / 400)))
    outcomes = {1516 - back, 1484 + back}
    split = pairs([("x", "y", "x"), ("x", "y", "y")])
    single = elo_scores(split, permutations=1)
    assert {round(v, 9) for v in single} == {round(v, 9) for v in outcomes}
    averaged = elo_scores(split, permutations=400)
    assert averaged["x"] == pytest.approx(1500, abs=0.5)


def test_entity_seen_only_in_unparseable_rows_has_no_score():
    df = pairs([("x", "y", "x"), ("y", "x", "y"), ("x", "y", "x"), ("x", "ghost", None)])
    bt = bradley_terry(df, bootstrap=10).scores.set_index("entity")
    assert np.isnan(bt.loc["ghost", "score"]) and bt.loc["ghost", "comparisons"] == 0
    assert bt.index[-1] == "ghost"  # NaN scores sort last
    assert np.isnan(elo_scores(df)["ghost"])


def test_disconnected_comparison_graph_warns():
    df = pairs([("a", "b", "a"), ("b", "a", "b"), ("c", "d", "c"), ("d", "c", "c")])
    with pytest.warns(RuntimeWarning, match="disconnected"):
        bradley_terry(df, bootstrap=0)


def test_integer_entity_ids_are_supported():
    df = pd.DataFrame(
        {"entity_a": [1, 2, 1, 3], "entity_b": [2, 1, 3, 1], "chosen": [1, 1, 1, np.nan]}
    )
    scores = bradley_terry(df, bootstrap=0).score
    assert scores.index.tolist() == [1, 3, 2]  # 3 lost once, 2 lost twice


# ---------------------------------------------------------------------------------- ranking


def test_ranking_scores_hand_example():
    long = pd.DataFrame(
        {
            "sample": [0, 0, 0, 1, 1, 1],
            "entity": ["x", "y", "z", "x", "y", "z"],
            "rank": [1, 2, 3, 2, 1, np.nan],
        }
    )
    table = ranking_scores(long).set_index("entity")
    assert table.index.tolist() == ["y", "x", "z"]
    assert table["mean_rank"].to_dict() == {"y": 1.5, "x": 1.5, "z": 3.0}
    assert table["n_missing"].to_dict() == {"y": 0, "x": 0, "z": 1}
    assert table["n_ranked"].to_dict() == {"y": 2, "x": 2, "z": 1}
    # Sample 0 ranks 3 entities (positions 1, .5, 0); sample 1 ranks 2 (1, 0).
    assert table["score"].to_dict() == pytest.approx({"y": 0.75, "x": 0.5, "z": 0.0})
    # A missing row counts exactly like a NaN rank.
    dropped = ranking_scores(long.dropna())
    pd.testing.assert_frame_equal(dropped, ranking_scores(long))


def test_ranking_score_is_linear_in_mean_rank_for_complete_answers(simulate_ranks, utilities):
    table = ranking_scores(simulate_ranks(utilities, samples=4))
    n = len(utilities)
    expected = (n - table["mean_rank"]) / (n - 1)
    np.testing.assert_allclose(table["score"], expected)
    assert (table["n_missing"] == 0).all() and table["score"].is_monotonic_decreasing


def test_ranking_scores_track_utilities(simulate_ranks, utilities, truth_of):
    table = ranking_scores(simulate_ranks(utilities, samples=10, missing=0.1))
    score = table.set_index("entity")["score"]
    assert spearman(score, truth_of(utilities), bootstrap=0).rho > 0.85


# ----------------------------------------------------------------------- degenerate inputs


@pytest.mark.parametrize("func", [elo_scores, bradley_terry, consistency])
def test_pairwise_input_errors(func):
    empty = pd.DataFrame(columns=["entity_a", "entity_b", "chosen"])
    with pytest.raises(DegenerateInputError, match="no rows"):
        func(empty)
    with pytest.raises(ValueError, match="missing required column"):
        func(pd.DataFrame({"entity_a": ["x"], "entity_b": ["y"]}))
    with pytest.raises(DegenerateInputError, match="at least 2 entities"):
        func(pairs([("x", "y", None), ("y", "x", None)]))
    with pytest.raises(ValueError, match="itself"):
        func(pairs([("x", "x", "x")]))
    with pytest.raises(ValueError, match="neither option"):
        func(pairs([("x", "y", "z")]))
    two_models = pairs([("x", "y", "x"), ("x", "y", "y")]).assign(model=["m1", "m2"])
    with pytest.raises(ValueError, match="several models"):
        func(two_models)


def test_bt_parameter_validation():
    df = pairs([("x", "y", "x"), ("y", "x", "y")])
    with pytest.raises(ValueError, match="ridge"):
        bradley_terry(df, ridge=0)
    with pytest.raises(ValueError, match="ci"):
        bradley_terry(df, ci=95)
    with pytest.raises(ValueError, match="permutations"):
        elo_scores(df, permutations=0)


def test_ranking_input_errors():
    good = pd.DataFrame({"sample": [0, 0], "entity": ["x", "y"], "rank": [1, 2]})
    with pytest.raises(DegenerateInputError, match="no rows"):
        ranking_scores(good.iloc[:0])
    with pytest.raises(ValueError, match="duplicate"):
        ranking_scores(pd.concat([good, good]))
    with pytest.raises(ValueError, match=">= 1"):
        ranking_scores(good.assign(rank=[0, 1]))
    with pytest.raises(DegenerateInputError, match="no non-missing"):
        ranking_scores(good.assign(rank=np.nan))
    with pytest.raises(ValueError, match="several models"):
        ranking_scores(good.assign(model=["a", "b"]))


def test_no_variance_ranking_makes_method_agreement_fail_clearly(simulate, utilities):
    df = simulate(utilities[:10], samples=2)
    tied = pd.DataFrame({"sample": 0, "entity": df["entity_a"].unique(), "rank": 1.0})
    with pytest.raises(DegenerateInputError, match="no variance"):
        consistency(df, tied, seed=0, splits=2)


# -------------------------------------------------------------------------- output & speed


def test_results_serialise_to_strict_json(simulate, simulate_ranks, utilities):
    df = simulate(utilities[:12], samples=2)
    bt = bradley_terry(df, bootstrap=0)  # NaN CIs must become null
    report = consistency(df, simulate_ranks(utilities[:12]), seed=0, splits=3)
    for payload in (bt.to_dict(), report.to_dict()):
        json.dumps(payload, allow_nan=False)
    assert bt.to_dict()["scores"][0]["ci_low"] is None
    assert set(bt.to_dict()["scores"][0]) == {
        "entity",
        "score",
        "ci_low",
        "ci_high",
        "wins",
        "comparisons",
    }
    assert report.to_dict()["method_agreement"]["n"] == 12


def test_bt_point_fit_is_fast(simulate, utilities):
    df = simulate(utilities, samples=2, unparseable=0.02)
    assert len(df) == 10_224
    start = time.perf_counter()
    bradley_terry(df, bootstrap=0)
    assert time.perf_counter() - start < 1.0


def test_pandas_string_dtype_with_na_counts_as_unparseable():
    df = pd.DataFrame(
        {
            "entity_a": ["x", "y", "x", "y"],
            "entity_b": ["y", "x", "y", "x"],
            "chosen": pd.array(["x", pd.NA, "x", "y"], dtype="string"),
        }
    ).astype({"entity_a": "string", "entity_b": "string"})
    result = bradley_terry(df, bootstrap=0)
    assert result.n_unparseable == 1 and result.n_comparisons == 3
    assert result.score.idxmax() == "x"
