"""Cost previews (``harness run --dry-run``): what a run or study would call, read and cost,
without making a single model call or writing anything.

For each model and stage it plans the trials exactly as a run would, renders the requests each
trial sends first exactly as the probe would send them, and counts their tokens
(:mod:`harness.model._tokens`: tiktoken for OpenAI models, a stated approximation elsewhere).
How many calls a trial makes beyond its first (refusal retries, agent steps) and how long the
answers are come from a pilot run (``--pilot RUN``) when one is given, otherwise from each
probe's stated assumptions; both are printed with the figures. Costs use the price table
(built-in list prices, ``--prices`` overrides).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.config import RunConfig
from harness.engine import RunSettings, prepare
from harness.entities import EntityMatcher
from harness.errors import UsageError
from harness.model import Price, PriceTable, price_table, token_counter
from harness.probes import CallProfile, PreviewCall, RunContext
from harness.study import ModelSpec

SAMPLE_TRIALS = 2000
"""Trials rendered and counted per stage; larger stages are estimated from an even sample."""
NO_CAP_OUTPUT = {"anthropic": 1024}
"""Output cap a provider applies when ``--max-tokens`` is unset (the harness's Anthropic
default); other providers have none, so their worst case is unbounded."""


@dataclass(frozen=True)
class Span:
    """An estimate: expected, with a plausible range and a worst case (``math.inf`` if none)."""

    low: float
    expected: float
    high: float
    most: float

    def __add__(self, other: Span) -> Span:
        return Span(
            self.low + other.low,
            self.expected + other.expected,
            self.high + other.high,
            self.most + other.most,
        )

    def scale(self, factor: float) -> Span:
        return Span(
            self.low * factor, self.expected * factor, self.high * factor, self.most * factor
        )


ZERO = Span(0.0, 0.0, 0.0, 0.0)


@dataclass
class StagePreview:
    """One role's calls in one stage of one model's run."""

    stage: str
    role: str
    model: str
    trials: int
    calls: Span
    input_tokens: Span
    output_tokens: Span
    cost: Span | None
    basis: str
    counted: int
    """How many trials' requests were rendered and counted."""


@dataclass
class ModelPreview:
    label: str
    model: str
    stages: list[StagePreview] = field(default_factory=list)
    token_method: str = ""
    notes: list[str] = field(default_factory=list)
    price_source: str = ""

    @property
    def cost(self) -> Span | None:
        costs = [s.cost for s in self.stages]
        if not costs or any(c is None for c in costs):
            return None
        total = ZERO
        for cost in costs:
            total = total + cost  # type: ignore[operator]
        return total


@dataclass
class Pilot:
    """Per (probe, role): calls per trial and tokens per call, measured in an earlier run."""

    run_id: str
    calls_per_trial: dict[tuple[str, str], pd.Series]
    output_per_call: dict[tuple[str, str], float]
    growth_per_call: dict[tuple[str, str], float]


def load_pilot(run: str, log_dir: Any) -> Pilot:
    """Read a pilot run's calls: how many each trial of each probe made, and their lengths."""
    from harness.store import RunStore, find_run

    store = RunStore.open(find_run(run, log_dir))
    try:
        samples = store.samples_df()
        calls = store.calls_df()
        attempts = store.records_df("attempt")
        run_id = store.meta().get("run_id", run)
    finally:
        store.close()
    if samples.empty or calls.empty:
        raise UsageError(f"pilot run {run} has no completed trials to measure")
    ok = samples[samples["status"] == "ok"][["trial_id", "probe"]]
    calls = calls[calls["error"].isna()].merge(ok, on="trial_id")
    per_trial: dict[tuple[str, str], pd.Series] = {}
    output: dict[tuple[str, str], float] = {}
    growth: dict[tuple[str, str], float] = {}
    for (probe, role), part in calls.groupby(["probe", "role"]):
        counts = part.groupby("trial_id").size()
        trials = ok[ok["probe"] == probe]["trial_id"]
        per_trial[(probe, role)] = counts.reindex(trials, fill_value=0).astype(float)
        output[(probe, role)] = float(part["output_tokens"].mean())
        first = part.sort_values("idx").groupby("trial_id")["input_tokens"].first().mean()
        growth[(probe, role)] = max(0.0, float(part["input_tokens"].mean() - first))
    for key, counts in _undecided_per_trial(samples, attempts).items():
        # A pilot made without an extractor still says how often one would be asked.
        per_trial.setdefault(key, counts)
    return Pilot(run_id, per_trial, output, growth)


def _undecided_per_trial(
    samples: pd.DataFrame, attempts: pd.DataFrame
) -> dict[tuple[str, str], pd.Series]:
    """Per probe, how many of each ok trial's answers the rules left for an extractor (by
    the rules' parse method), as ``(probe, "extractor")`` call counts."""
    from harness.probes._extractor import reads

    def rules_method(rows: pd.DataFrame) -> pd.Series:
        method = rows["parse_method"].astype(str)
        if "rules_parse_method" in rows.columns:
            method = rows["rules_parse_method"].fillna(method).astype(str)
        return method

    out: dict[tuple[str, str], pd.Series] = {}
    if "parse_method" not in samples.columns:
        return out
    ok = samples[samples["status"] == "ok"]
    for probe in ("pairwise", "ranking", "boolq"):
        rows = ok[ok["probe"] == probe]
        if not rows.empty:
            wanted = [reads(probe, m) for m in rules_method(rows)]
            out[(probe, "extractor")] = pd.Series(wanted, index=rows["trial_id"], dtype=float)
    trials = ok[ok["probe"] == "donation"]["trial_id"]
    if not trials.empty and "parse_method" in attempts.columns:
        mine = attempts[attempts["trial_id"].isin(trials)]
        wanted = pd.Series(
            [
                reads("donation", m, c)
                for m, c in zip(rules_method(mine), mine["case"], strict=True)
            ],
            index=mine.index,
            dtype=float,
        )
        counts = wanted.groupby(mine["trial_id"]).sum()
        out[("donation", "extractor")] = counts.reindex(trials, fill_value=0.0)
    return out


def _calls_span(profile: CallProfile, pilot_counts: pd.Series | None) -> tuple[Span, str]:
    """Calls per trial, from the pilot's mean (with its 95 % interval) or the assumption."""
    fewest, expected, most = profile.calls
    if pilot_counts is None or pilot_counts.empty:
        return Span(fewest, expected, max(expected, min(most, 3 * expected)), most), ""
    mean = float(pilot_counts.mean())
    half = 1.96 * float(pilot_counts.std(ddof=1) or 0.0) / math.sqrt(len(pilot_counts))
    if not math.isfinite(half):
        half = 0.0
    return (
        Span(max(fewest, mean - half), mean, min(most, mean + half), most),
        f"pilot: {mean:.2f} calls per trial over {len(pilot_counts)} trials",
    )


def _stage_preview(
    stage: str,
    trials: list[Any],
    calls_of: list[list[PreviewCall]],
    config: RunConfig,
    prices: PriceTable,
    pilot: Pilot | None,
    batched: int = 0,
) -> list[StagePreview]:
    """Scale the counted first requests of a sample of trials to the whole stage.

    ``batched``: subject calls per trial that ``--batch`` sends by batch (the trial's first
    requests), priced at the batch discount; the rest at the full price."""
    out: list[StagePreview] = []
    if not calls_of:
        return out
    roles = [(c.role, c.model, c.profile) for c in calls_of[0]]
    scale = len(trials) / len(calls_of)
    for index, (role, model, profile) in enumerate(roles):
        counter = token_counter(model)
        first = [counter.count_request(calls[index].request) for calls in calls_of]
        mean_first = sum(first) / len(first)
        key = (stage, role)
        per_trial, pilot_basis = _calls_span(
            profile, pilot.calls_per_trial.get(key) if pilot else None
        )
        growth = profile.input_growth
        answer = float(profile.output_tokens)
        if pilot is not None and key in pilot.output_per_call:
            answer = pilot.output_per_call[key]
            growth = pilot.growth_per_call[key]
        provider = model.split("/")[0]
        cap = config.max_tokens or NO_CAP_OUTPUT.get(provider)
        if config.max_tokens:
            answer = min(answer, config.max_tokens)
        n = len(trials)
        calls = per_trial.scale(n)

        inputs = Span(
            *(
                _trial_input(n, per, mean_first, growth)
                for per in (per_trial.low, per_trial.expected, per_trial.high, per_trial.most)
            )
        )
        outputs = Span(
            calls.low * answer,
            calls.expected * answer,
            calls.high * answer,
            calls.most * cap if cap else math.inf,
        )
        price = prices.get(model)
        cost = None if price is None else _cost(price, inputs, outputs)
        basis = pilot_basis or profile.assumption
        if cost is not None and price is not None and batched and role == "subject":
            k = n * min(float(batched), per_trial.low)
            cost = _batch_saving(
                price, cost, k * mean_first, k * answer, k * cap if cap else math.inf
            )
            basis += f"; first call by batch at {100 * price.batch_discount:g} % off"
        out.append(
            StagePreview(
                stage=stage,
                role=role,
                model=model,
                trials=n,
                calls=calls,
                input_tokens=inputs,
                output_tokens=outputs,
                cost=cost,
                basis=basis + ("" if scale <= 1 else f"; tokens from {len(calls_of):,} trials"),
                counted=len(calls_of),
            )
        )
    return out


def _trial_input(trials: int, calls: float, first: float, growth: float) -> float:
    """Input tokens of ``trials`` trials of ``calls`` calls each: every call reads the first
    request, plus a transcript that grows by ``growth`` tokens with each call after the first."""
    return trials * (calls * first + growth * calls * (calls - 1) / 2)


def _cost(price: Price, inputs: Span, outputs: Span) -> Span:
    def dollars(i: float, o: float) -> float:
        if math.isinf(o):
            return math.inf if price.output_per_mtok else i * price.input_per_mtok / 1e6
        return (i * price.input_per_mtok + o * price.output_per_mtok) / 1e6

    return Span(
        dollars(inputs.low, outputs.low),
        dollars(inputs.expected, outputs.expected),
        dollars(inputs.high, outputs.high),
        dollars(inputs.most, outputs.most),
    )


def _batch_saving(price: Price, cost: Span, inputs: float, expected: float, most: float) -> Span:
    """``cost`` with ``inputs`` input and ``expected`` output tokens (``most`` at worst) billed
    at the batch discount instead of the full price."""
    billed = Span(inputs, inputs, inputs, inputs)
    saved = _cost(price, billed, Span(expected, expected, expected, most)).scale(
        price.batch_discount
    )
    worst = cost.most if math.isinf(cost.most) else cost.most - saved.most
    return Span(cost.low - saved.low, cost.expected - saved.expected, cost.high - saved.high, worst)


def _even_sample(items: list[Any], size: int) -> list[Any]:
    if len(items) <= size:
        return items
    step = len(items) / size
    return [items[int(i * step)] for i in range(size)]


def preview_model(
    config: RunConfig, label: str, prices: PriceTable, pilot: Pilot | None, batch: bool = False
) -> ModelPreview:
    preparation = prepare(config, need_keys=False, batch=batch)
    config, stages, entities = preparation.config, preparation.stages, preparation.entities
    run = RunContext(
        run_id="preview",
        config=config,
        entities=entities,
        matcher=EntityMatcher(entities),
        models={},
        store=None,  # type: ignore[arg-type] - a preview reads no store
        preview=True,
    )
    result = ModelPreview(label, config.model, token_method=token_counter(config.model).method)
    for stage in stages:
        for probe in stage:
            trials = probe.plan(run)
            render = getattr(probe, "preview", None)
            if render is None:
                result.notes.append(f"{probe.name}: no preview available; not counted")
                continue
            sample = _even_sample(trials, SAMPLE_TRIALS)
            calls_of = [render(trial, run) for trial in sample]
            first = getattr(probe, "first_requests", None)
            batched = len(first(sample[0], run)) if batch and first and sample else 0
            result.stages.extend(
                _stage_preview(probe.name, trials, calls_of, config, prices, pilot, batched)
            )
    if config.suite in ("boolq", "agentic") and not config.options.get("preferences"):
        result.notes.append(
            "boolq/agentic entities are chosen after elicitation; the preview uses the entity "
            "set's own order (same plan size; per-entity token counts differ slightly)"
        )
    return result


def preview_study(
    base: RunConfig, specs: list[ModelSpec], settings: RunSettings, *, pilot: str | None = None
) -> list[ModelPreview]:
    """Previews for every model of a run or study; makes no call and writes nothing."""
    prices = price_table(settings.prices)
    measured = load_pilot(pilot, settings.log_dir) if pilot else None
    previews = []
    for spec in specs:
        config = base.model_copy(
            update={"model": spec.model, "model_args": spec.args, "base_url": spec.base_url}
        )
        preview = preview_model(config, spec.label, prices, measured, settings.batch)
        preview.price_source = prices.source
        previews.append(preview)
    if measured is not None:
        for preview in previews:
            preview.notes.append(
                f"calls per trial and answer lengths from pilot run {measured.run_id}"
            )
    return previews


def announce_cost(runs: list[Any], settings: RunSettings, console: Console) -> None:
    """Before paid models are called: one line per run of a paid model with the preview's
    expected cost (and the cap). ``runs`` are :class:`~harness.engine.PreparedRun`, already
    validated, so a refused run never gets an estimate first."""
    prices = price_table(settings.prices)
    for run in runs:
        price = prices.get(run.config.model)
        if price is None or not (price.input_per_mtok or price.output_per_mtok):
            continue
        cost = preview_model(
            run.config, run.label or run.config.model, prices, None, settings.batch
        ).cost
        if cost is None:
            continue
        cap = f"; --max-cost ${settings.max_cost:,.2f}" if settings.max_cost is not None else ""
        console.print(
            f"[dim]{escape(run.label or run.config.model)}: expected cost about "
            f"${cost.expected:,.2f} (${cost.low:,.2f}–${cost.high:,.2f}){cap}; --dry-run shows "
            "the breakdown[/]",
            soft_wrap=True,
        )


# -- printing ----------------------------------------------------------------------------------


def _n(value: float) -> str:
    if math.isinf(value):
        return "unbounded"
    if value >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"


def _usd(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"${value:,.2f}"


def _range(span: Span, fmt: Any) -> str:
    if math.isclose(span.low, span.high):
        return fmt(span.expected)
    return f"{fmt(span.expected)} [{fmt(span.low)}–{fmt(span.high)}]"


def print_preview(
    previews: Iterable[ModelPreview],
    console: Console,
    *,
    max_cost: float | None = None,
    max_study_cost: float | None = None,
) -> None:
    previews = list(previews)
    console.rule("[bold]cost preview[/] (--dry-run: no model was called, nothing was written)")
    total: Span | None = ZERO
    for preview in previews:
        table = Table(
            "stage",
            "role",
            "trials",
            "calls: expected [range]",
            "at most",
            "input tokens",
            "output tokens",
            "cost: expected [range]",
            "at most",
            title=f"{preview.label}  ({preview.token_method})",
            title_justify="left",
        )
        for s in preview.stages:
            table.add_row(
                s.stage,
                s.role if s.model == preview.model else f"{s.role}: {s.model}",
                f"{s.trials:,}",
                _range(s.calls, _n),
                _n(s.calls.most),
                _range(s.input_tokens, _n),
                _range(s.output_tokens, _n),
                "no price" if s.cost is None else _range(s.cost, _usd),
                "" if s.cost is None else _usd(s.cost.most),
            )
        cost = preview.cost
        if cost is not None:
            table.add_section()
            table.add_row(
                "total", "", "", "", "", "", "", _range(cost, _usd), _usd(cost.most), style="bold"
            )
        console.print(table)
        for s in preview.stages:
            console.print(f"  [dim]{s.stage} ({s.role}): {s.basis}[/]", soft_wrap=True)
        for note in preview.notes:
            console.print(f"  [dim]{note}[/]", soft_wrap=True)
        if max_cost is not None and cost is not None:
            verdict = "within" if cost.expected <= max_cost else "[red]over[/]"
            console.print(f"  expected cost is {verdict} --max-cost ${max_cost:,.2f}")
        total = None if total is None or cost is None else total + cost
    if len(previews) > 1 and total is not None:
        console.print(f"[bold]study total: {_range(total, _usd)}, at most {_usd(total.most)}[/]")
        if max_study_cost is not None:
            verdict = "within" if total.expected <= max_study_cost else "[red]over[/]"
            console.print(f"expected cost is {verdict} --max-study-cost ${max_study_cost:,.2f}")
    console.print(
        f"[dim]prices: {previews[0].price_source if previews else ''} (check them before spending; --prices FILE overrides). "
        "Ranges are the assumption's or the pilot's; 'at most' is every trial at its cap.[/]",
        soft_wrap=True,
    )
