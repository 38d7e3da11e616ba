"""End to end: sim's verbose answers are measured like its terse ones.

With the same seed, ``-M style=verbose`` words every planted decision differently (reasoning
before the answer, markdown, JSON, final lines, refusals and hedges in several styles) but
decides exactly as the terse default does. So whatever the harness measures from the advice
suite (parse rates, the classes of first attempts, attempts per query, and the recovery of the
planted effects) must not depend on the wording: a difference is the parsers' doing.

Tolerance: half the seed-to-seed standard deviation of each statistic, measured with
``bench/bench_styles.py --seeds 10`` at this test's size (advice suite, ``--limit 24``, 4
rankings; figures in docs/benchmarks.md). A parser gap that moves a statistic by half of
what re-running with another seed moves it fails the test. With the parsers of before this
test (donation rules v2), the same seed differed by 0.55 SD in the pairwise parse rate,
0.9 SD in first-attempt validity and 0.86 SD in the refusal-attempts rho, among others.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analysis.audit import parse_summary
from analysis.runs import analyze_run
from harness.config import RunConfig
from harness.engine import RunSettings, start_run
from harness.store import Run

SEED_SD = {
    "pairwise_parse_rate": 0.0033,
    "ranking_parse_rate": 0.0,
    "donation_mean_attempts": 0.2477,
    "donation_first_valid": 0.0240,
    "donation_first_hedge": 0.0131,
    "donation_first_refusal": 0.0176,
    "donation_first_unparseable": 0.0031,
    "donation_rho": 0.0352,
    "refusal_attempts_rho": 0.1204,
    "refusal_rate_rho": 0.1319,
    "attempts_pref_a": 0.1434,
    "attempts_pref_b": 0.0818,
    "attempts_interaction": 2.1502,
}
"""SD over 10 seeds of each statistic of the terse runs (bench/bench_styles.py --seeds 10)."""
TOLERANCE = {name: 0.5 * sd for name, sd in SEED_SD.items()}
"""Largest terse-minus-verbose difference allowed: half the seed-to-seed SD (0 where the
statistic did not vary between seeds, as the ranking parse rate of 4 rankings)."""
EFFECTS = tuple(
    name for name in SEED_SD if not name.endswith(("_rate", "_attempts")) and "first" not in name
)


def _statistics(directory: Path) -> tuple[dict[str, float], Run]:
    with Run(directory) as run:
        frames = {p: run.samples(p) for p in ("pairwise", "ranking", "donation")}
        figures = parse_summary(frames, run.records("attempt"))
        estimates = {
            e.statistic: e.estimate
            for _, e in analyze_run(run, bayes=False, bootstrap=0).estimates()
        }
    return {**figures, **{name: estimates[name] for name in EFFECTS}}


@pytest.fixture(scope="module")
def styles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, float], Path]]:
    out = {}
    for style in ("terse", "verbose"):
        log_dir = tmp_path_factory.mktemp(style)
        args = {"style": "verbose"} if style == "verbose" else {}
        config = RunConfig(
            suite="advice", model="sim", model_args=args, limit=24, ranking_samples=4
        )
        result = start_run(config, RunSettings(log_dir=log_dir, progress=False, cache=False))
        assert result.status == "complete" and result.errors == 0
        out[style] = (_statistics(result.directory), result.directory)
    return out


def test_the_verbose_run_is_worded_differently(styles) -> None:
    with Run(styles["terse"][1]) as terse, Run(styles["verbose"][1]) as verbose:
        methods = {
            name: set(run.samples("pairwise")["parse_method"])
            | set(run.records("attempt")["parse_method"])
            for name, run in (("terse", terse), ("verbose", verbose))
        }
        lengths = [run.records("attempt")["text"].str.len().mean() for run in (terse, verbose)]
    # Verbose answers are read by methods terse ones never need (JSON, final lines).
    assert {"json", "final_statement", "last_line"} <= methods["verbose"]
    assert "json" not in methods["terse"] and "last_line" not in methods["terse"]
    assert lengths[1] > 2 * lengths[0]


@pytest.mark.parametrize("statistic", list(SEED_SD))
def test_terse_and_verbose_measure_the_same(styles, statistic: str) -> None:
    terse, verbose = styles["terse"][0][statistic], styles["verbose"][0][statistic]
    assert math.isfinite(terse) and math.isfinite(verbose)
    difference = abs(terse - verbose)
    assert difference <= TOLERANCE[statistic] + 1e-12, (
        f"{statistic}: terse {terse:.4f}, verbose {verbose:.4f}, difference {difference:.4f} "
        f"> tolerance {TOLERANCE[statistic]:.4f} (half the seed-to-seed SD {SEED_SD[statistic]})"
    )


def test_planted_effects_are_recovered_in_both_styles(styles) -> None:
    for style in ("terse", "verbose"):
        stats = styles[style][0]
        # sim plants preference-aligned advice and refusals that rise as preference falls,
        # superadditively for two disliked entities (harness/sim/donation.py).
        assert stats["donation_rho"] > 0.85, style
        assert stats["refusal_attempts_rho"] < -0.4, style
        assert stats["refusal_rate_rho"] < -0.3, style
        # The refusal model reports rate ratios: below 1, fewer extra attempts as preference
        # rises; above 1, more when both organisations are disliked.
        assert stats["attempts_pref_a"] < 1 and stats["attempts_pref_b"] < 1, style
        assert stats["attempts_interaction"] > 1, style
        # Parse rates: sim's elicitation dodges 2 % of questions, whatever the wording.
        assert 0.96 <= stats["pairwise_parse_rate"] <= 0.995, style
        assert stats["donation_first_valid"] > 0.8, style


def test_first_attempts_are_classed_alike_one_by_one(styles) -> None:
    """Stronger than equal shares: the same first attempt gets the same class in both styles
    (the same planted decision), with at most 1 % of them reading differently."""
    with Run(styles["terse"][1]) as terse, Run(styles["verbose"][1]) as verbose:
        first = [
            run.records("attempt").query("attempt == 1").set_index("trial_id")["class"]
            for run in (terse, verbose)
        ]
    joined = first[0].to_frame("terse").join(first[1].rename("verbose"), how="inner")
    assert len(joined) == len(first[0]) == len(first[1]) > 500
    assert (joined["terse"] != joined["verbose"]).mean() <= 0.01


def _boolq_path() -> Path | None:
    import os

    env = os.environ.get("HARNESS_BOOLQ_PATH")
    repo = Path(__file__).resolve().parents[1]
    for candidate in [
        *([Path(env)] if env else []),
        repo.parent / "shared/data/boolq/validation.jsonl",
    ]:
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.skipif(_boolq_path() is None, reason="BoolQ validation split not found")
def test_boolq_outcomes_do_not_depend_on_the_wording(tmp_path: Path) -> None:
    """Per trial (the same planted verdict, refusal or non-answer in both styles): the outcome
    read from the verbose answer is the terse one's, for at least 99.5 % of trials."""
    outcomes = {}
    for style in ("terse", "verbose"):
        config = RunConfig(
            suite="boolq",
            model="sim",
            # Refusals more common than the default, so each refusal wording is met often.
            model_args={"boolq_refusal_rate": "0.2"}
            | ({"style": "verbose"} if style == "verbose" else {}),
            limit=40,
            ranking_samples=1,
            options={"boolq_path": str(_boolq_path()), "top_k": 5},
        )
        result = start_run(
            config, RunSettings(log_dir=tmp_path / style, progress=False, cache=False)
        )
        with Run(result.directory) as run:
            outcomes[style] = run.samples("boolq").set_index("trial_id")["outcome"]
    joined = outcomes["terse"].to_frame("terse").join(outcomes["verbose"].rename("verbose"))
    assert len(joined) == 40 * 12
    assert set(joined["terse"]) >= {"correct", "wrong"}
    assert (joined["terse"] == "refusal").sum() >= 30
    assert (joined["terse"] != joined["verbose"]).mean() <= 0.005
