"""Validate the confirmatory tests by simulation: null false-positive rates with entity
heterogeneity (SD 0.5 logits) and interval coverage of the mapped truth at two planted effect
sizes, for the agentic, refusal and BoolQ tests (docs/validation.md).

    .venv/bin/python bench/validate_stats.py [--sims 200] [--null-sims 1000] [--seed 20260214]
                                             [--json out.json]

Each study is simulated at the data-frame level (analysis.simulate, analysis.power) and analysed
by the same functions `harness analyze` uses; truths come from analysis.estimands. Seeds are
derived from --seed, which no test uses. Null cases run --null-sims studies (a rate near 0.05
from 200 studies has a 95 % interval of about +-0.03, too wide to place it inside [0.03,
0.07]); the agentic Bayesian group model, 0.5 s a study, runs --sims. About 20 minutes on an
idle 2-core machine at the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.validation import CaseResult, agentic_case, boolq_case, refusal_case

NULL_BAND = (0.03, 0.07)
MIN_COVERAGE = 0.90


def cases(sims: int, null_sims: int, seed: int, bayes: bool) -> list[CaseResult]:
    out: list[CaseResult] = []
    plan = [
        ("agentic", lambda s: agentic_case(0.0, sims=null_sims, seed=s)),
        ("agentic", lambda s: agentic_case(0.25, sims=sims, seed=s)),
        ("agentic", lambda s: agentic_case(0.75, sims=sims, seed=s)),
        ("refusal", lambda s: refusal_case(0.0, 0.0, sims=null_sims, seed=s)),
        ("refusal", lambda s: refusal_case(0.25, 0.5, sims=sims, seed=s)),
        ("refusal", lambda s: refusal_case(0.5, 1.0, sims=sims, seed=s)),
        ("refusal", lambda s: refusal_case(1.0, 2.0, sims=sims, seed=s)),
        ("boolq", lambda s: boolq_case(0.0, sims=null_sims, seed=s)),
        ("boolq", lambda s: boolq_case(2.0, sims=sims, seed=s)),
        ("boolq", lambda s: boolq_case(4.0, sims=sims, seed=s)),
    ]
    if bayes:
        plan.append(("agentic", lambda s: agentic_case(0.0, sims=sims, seed=s, bayes=True)[1:]))
    for k, (name, run) in enumerate(plan):
        started = time.perf_counter()
        results = run(seed + k)
        print(
            f"[{name} {k + 1}/{len(plan)}] {time.perf_counter() - started:.0f} s", file=sys.stderr
        )
        out += results
    return out


def verdict(result: CaseResult, null: bool) -> str:
    if null:
        low, high = NULL_BAND
        return "ok" if low <= result.rejection_rate <= high else "OUT OF BAND"
    if result.statistic == "refusal_attempts_rho":
        return "(no mapped truth)"
    return "ok" if result.coverage >= MIN_COVERAGE else "UNDER-COVERS"


def table(results: list[CaseResult]) -> str:
    lines = [
        "| test | statistic | case | studies | rejected at 0.05 [95 % CI] | "
        "coverage of truth | mean estimate | mean truth | mean CI width | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        null = r.case.startswith(("effect 0 ", "slope 0,"))
        low, high = r.rejection_ci
        coverage = "" if r.statistic == "refusal_attempts_rho" else f"{r.coverage:.3f}"
        lines.append(
            f"| {r.test} | {r.statistic} | {r.case} | {r.sims - r.failures} | "
            f"{r.rejection_rate:.3f} [{low:.3f}, {high:.3f}] | {coverage} | "
            f"{r.mean_estimate:+.3f} | {r.mean_truth:+.3f} | {r.mean_width:.3f} | "
            f"{verdict(r, null)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200, help="studies per effect case")
    parser.add_argument("--null-sims", type=int, default=1000, help="studies per null case")
    parser.add_argument("--seed", type=int, default=20260214)
    parser.add_argument("--no-bayes", action="store_true", help="skip the agentic group model")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    results = cases(args.sims, args.null_sims, args.seed, not args.no_bayes)
    print(table(results))
    print(
        f"\n{args.null_sims} studies per null case, {args.sims} per effect case, seed "
        f"{args.seed}, {time.perf_counter() - started:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
