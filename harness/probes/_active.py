"""Adaptive pairwise elicitation (``--pair-strategy active``): which pairs to ask next, chosen
from the Bradley–Terry fit of the answers so far, in rounds recorded in the run store.

The design, after Mazeika et al. (2025)'s active sampling, in our own formulation:

* **Round 0** is a seeded random near-regular design: random Hamiltonian cycles through the
  entities (so the comparison graph is connected and every entity is compared at least twice),
  topped up from the remaining pairs in seeded random order.
* **Each later round** fits Bradley–Terry (:func:`analysis.bradley_terry`, with a N(0, 1) prior
  on log-strengths, :data:`PLANNING_RIDGE`) to every parsed answer so far and picks, greedily,
  the not-yet-asked pair most likely to be *misordered* by the current fit: the largest
  ``Φ(−|θ_A − θ_B| / sqrt(1/I_A + 1/I_B))``, where θ is the fitted log-strength and ``I`` an
  entity's information, the prior precision plus ``Σ p(1 − p)`` over its parsed comparisons (a
  diagonal approximation of the posterior precision). After each pick the two
  entities' information grows by the pick's expected information, so one round spreads over
  the entities instead of piling onto one uncertain pair. This is "small utility gap ∩ high
  uncertainty" as one number instead of two percentile cut-offs.
* **Orders.** ``alternate`` (the default) asks each chosen pair once, in the order that
  greedily balances each entity's count of being option A against option B; the fit's position effect is
  identified through the network. ``both`` asks each pair in both orders at twice the cost.
  ``bench/bench_active.py`` compares the two (docs/benchmarks.md).
* **Stopping.** The query budget (``--pair-budget``: queries, or a percentage of the full
  design's) is split over ``--pair-rounds`` rounds; the design stops when they are used or,
  with ``--pair-stop-rho R``, as soon as the Spearman correlation between the fits before two
  consecutive rounds reaches ``R``.

A trial of this design is the *same question* as the full design's trial with the same id (same
pair, order, sample, epoch and template), so the ids never mean something different and the
response cache is shared between the two designs.

Every decision (a round's pairs, the fit it came from, the stop) is written to the run's meta
under ``pairwise_design`` when it is made, and only ever read back after that: a resumed run
continues the recorded rounds instead of re-deciding them from results that may have changed
(errored trials are re-run on resume).
"""

from __future__ import annotations

import hashlib
import math
import random
import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.store import RunStore

META_KEY = "pairwise_design"
STRATEGIES = ("full", "active")
ORDERS = ("alternate", "both")
DEFAULT_BUDGET = "25%"
DEFAULT_ROUNDS = 4
DEFAULT_ORDERS = "alternate"
PLANNING_RIDGE = 1.0
"""Prior precision of the log-strengths in the fit that chooses pairs (a N(0, 1) prior), also
every entity's information before its first answer. The analysis fits with a much weaker ridge;
here, with two or three answers per entity, that would put an entity that won its few
comparisons at an extreme score that no later comparison would be chosen to check (the
sensitivity is in docs/benchmarks.md, ``bench/bench_active.py --planning-ridge``)."""

Question = tuple[str, str]
"""An ordered pair: (option A, option B) as shown."""


@dataclass(frozen=True)
class ActiveDesign:
    """The adaptive design's options, as recorded (and hashed) in ``RunConfig.options``."""

    budget: int | str
    """Pairwise queries (an int), or a share of the full design's queries (``"25%"``)."""
    rounds: int
    orders: str
    stop_rho: float | None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ActiveDesign | None:
        """The design for these options; None for the full design. Raises one-line
        :class:`UsageError` for bad values or options that need ``--pair-strategy active``."""
        strategy = options.get("pair_strategy") or "full"
        if strategy not in STRATEGIES:
            raise UsageError(
                f"--pair-strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}"
            )
        given = [
            name
            for name in ("pair_budget", "pair_rounds", "pair_orders", "pair_stop_rho")
            if options.get(name) is not None
        ]
        if strategy == "full":
            if given:
                flag = "--" + given[0].replace("_", "-")
                raise UsageError(f"{flag} applies only with --pair-strategy active")
            return None
        rounds = options.get("pair_rounds")
        rounds = DEFAULT_ROUNDS if rounds is None else int(rounds)
        if rounds < 1:
            raise UsageError("--pair-rounds must be at least 1")
        orders = options.get("pair_orders") or DEFAULT_ORDERS
        if orders not in ORDERS:
            raise UsageError(f"--pair-orders must be one of {', '.join(ORDERS)}, not {orders!r}")
        stop_rho = options.get("pair_stop_rho")
        if stop_rho is not None:
            stop_rho = float(stop_rho)
            if not 0.0 < stop_rho <= 1.0:
                raise UsageError(f"--pair-stop-rho must be in (0, 1], not {stop_rho:g}")
        budget = parse_budget(options.get("pair_budget") or DEFAULT_BUDGET)
        return cls(budget=budget, rounds=rounds, orders=orders, stop_rho=stop_rho)

    def options(self) -> dict[str, Any]:
        """The resolved options (defaults filled in), recorded in the run configuration."""
        return {
            "pair_strategy": "active",
            "pair_budget": self.budget,
            "pair_rounds": self.rounds,
            "pair_orders": self.orders,
            "pair_stop_rho": self.stop_rho,
        }

    def round_sizes(self, n_entities: int, per_question: int) -> list[int]:
        """Pairs per round. ``per_question`` is queries per asked question (samples × epochs).

        Raises:
            UsageError: the budget cannot pay for round 0's cycle through every entity.
        """
        total_pairs = n_entities * (n_entities - 1) // 2
        per_pair = per_question * (2 if self.orders == "both" else 1)
        full = 2 * total_pairs * per_question
        if isinstance(self.budget, str):
            queries = math.ceil(float(self.budget[:-1]) / 100.0 * full)
        else:
            queries = self.budget
        pairs = min(total_pairs, queries // per_pair)
        first = min(n_entities, total_pairs)
        if pairs < first:
            raise UsageError(
                f"--pair-budget {self.budget} ({queries} queries) is too small: the first round "
                f"alone needs {first * per_pair} (a cycle through all {n_entities} entities)"
            )
        sizes = [min(pairs, max(math.ceil(pairs / self.rounds), first))]
        rest, later = pairs - sizes[0], self.rounds - 1
        # The rest is split evenly over the later rounds, the earlier ones taking the remainder.
        sizes += [rest // later + (i < rest % later) for i in range(later)]
        return [size for size in sizes if size > 0]


def parse_budget(value: object) -> int | str:
    """``"1200"`` -> 1200 queries; ``"25%"`` / ``"25.0%"`` -> ``"25%"`` of the full design's."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0.0 < share <= 100.0:
                raise ValueError
            return f"{share:g}%"
        number = int(text)
        if number < 1:
            raise ValueError
        return number
    except ValueError:
        raise UsageError(
            f"--pair-budget must be a number of queries or a percentage like 25%, not {text!r}"
        ) from None


def design_state(store: RunStore) -> dict[str, Any] | None:
    """The recorded adaptive design of a run (rounds, fits, stop), or None."""
    return store.meta().get(META_KEY)


def describe(state: dict[str, Any], queries: int, n_entities: int, per_question: int) -> str:
    """One line for the run summary: what the adaptive design spent and why it stopped."""
    full = n_entities * (n_entities - 1) * per_question
    stopped = state.get("stopped")
    why = "still running" if stopped is None else f"stopped: {stopped['reason']}"
    if stopped and stopped["reason"] == "stable":
        why += f" (ρ {stopped['rho']:.3f} between fits)"
    share = f"{100 * queries / full:.0f} %" if full else "n/a"
    return (
        f"active ({state['orders']} orders): {queries:,} of {full:,} queries ({share}), "
        f"{len(state['rounds'])} rounds, {why}"
    )


def recorded_questions(state: dict[str, Any]) -> list[Question]:
    return [(a, b) for round_ in state["rounds"] for a, b in round_["questions"]]


class ActivePlanner:
    """Decides rounds of the adaptive design for one run; every decision is stored at once."""

    def __init__(self, design: ActiveDesign, config: RunConfig, entity_ids: list[str]):
        self.design = design
        self.seed = config.seed
        self.ids = entity_ids
        self.per_question = config.samples * config.epochs
        self.sizes = design.round_sizes(len(entity_ids), self.per_question)

    def start(self, store: RunStore) -> dict[str, Any]:
        """Decide and record round 0 (the run's first plan)."""
        pairs = self._first_round(self.sizes[0])
        state: dict[str, Any] = {
            "strategy": "active",
            "orders": self.design.orders,
            "round_sizes": self.sizes,
            "queries_per_pair": self.weight,
            "rounds": [],
            "stopped": None,
        }
        state["rounds"].append({"round": 0, "based_on": 0, "questions": self._orient(pairs, state)})
        store.set_meta(**{META_KEY: state})
        return state

    def stand_in(self) -> list[Question]:
        """As many questions as the whole budget pays for, drawn like round 0, for a cost
        preview (which asks nothing, so cannot choose the later rounds)."""
        return [(a, b) for a, b in self._orient(self._first_round(sum(self.sizes)), {"rounds": []})]

    def advance(self, store: RunStore, answers: pd.DataFrame) -> dict[str, Any]:
        """Decide and record what follows the recorded rounds, all of whose trials are stored:
        the next round's pairs, or the stop. ``answers`` holds the ok pairwise trials in the
        shape :func:`harness.probes._preferences.pairwise_frame` gives."""
        state = design_state(store)
        assert state is not None and state["stopped"] is None
        done = len(state["rounds"])
        # The round sizes never add up to more than every pair, so candidates remain while
        # rounds do.
        if done >= len(self.sizes):
            state["stopped"] = {"reason": "budget", "after_round": done - 1}
            store.set_meta(**{META_KEY: state})
            return state
        theta, information = self._fit(answers)
        rho = None
        if (previous := state["rounds"][-1].get("fit")) is not None:
            rho = _rank_agreement(theta, pd.Series(previous))
            if self.design.stop_rho is not None and rho >= self.design.stop_rho:
                state["stopped"] = {"reason": "stable", "after_round": done - 1, "rho": rho}
                store.set_meta(**{META_KEY: state})
                return state
        asked = {frozenset(q) for q in recorded_questions(state)}
        candidates = [p for p in combinations(self.ids, 2) if frozenset(p) not in asked]
        pairs = _most_uncertain(theta, information, candidates, self.sizes[done], self.weight)
        state["rounds"].append(
            {
                "round": done,
                "based_on": len(answers.index),
                "fit": {eid: float(theta[eid]) for eid in self.ids},
                "rho_previous_fit": rho,
                "questions": self._orient(pairs, state),
            }
        )
        store.set_meta(**{META_KEY: state})
        return state

    @property
    def weight(self) -> int:
        """Queries one chosen pair costs (its expected information is this many answers')."""
        return self.per_question * (2 if self.design.orders == "both" else 1)

    def _first_round(self, size: int) -> list[tuple[str, str]]:
        rng = random.Random(f"pairwise-active|{self.seed}|round-0")
        chosen: dict[frozenset[str], tuple[str, str]] = {}
        n = len(self.ids)
        # Whole random cycles keep every entity's degree equal. In dense designs later cycles
        # mostly repeat pairs, so after a few more cycles than needed the rest is filled from
        # the remaining pairs.
        for _ in range(math.ceil(size / max(n, 1)) * 3):
            if len(chosen) >= size:
                break
            order = self.ids[:]
            rng.shuffle(order)
            for i in range(n if n > 2 else 1):
                pair = (order[i], order[(i + 1) % n])
                chosen.setdefault(frozenset(pair), pair)
                if len(chosen) >= size:
                    break
        if len(chosen) < size:
            rest = [p for p in combinations(self.ids, 2) if frozenset(p) not in chosen]
            rng.shuffle(rest)
            for pair in rest[: size - len(chosen)]:
                chosen[frozenset(pair)] = pair
        return list(chosen.values())

    def _orient(self, pairs: list[tuple[str, str]], state: dict[str, Any]) -> list[list[str]]:
        """The questions for chosen pairs: both orders, or one order that balances each
        entity's count of being option A against option B (ties by a seeded coin)."""
        if self.design.orders == "both":
            return [[a, b] for x, y in pairs for a, b in ((x, y), (y, x))]
        balance = dict.fromkeys(self.ids, 0)
        for a, b in recorded_questions(state):
            balance[a] += 1
            balance[b] -= 1
        questions = []
        for x, y in pairs:
            if balance[x] == balance[y]:
                coin = hashlib.sha256(f"{self.seed}|{x}|{y}".encode()).digest()[0] & 1
                first = x if coin else y
            else:
                first = x if balance[x] < balance[y] else y
            second = y if first == x else x
            balance[first] += 1
            balance[second] -= 1
            questions.append([first, second])
        return questions

    def _fit(self, answers: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Log-strength θ per entity (0 where unfitted) and its diagonal Fisher information."""
        from analysis import ELO_CENTER, ELO_PER_LOGIT, DegenerateInputError, bradley_terry

        theta = pd.Series(0.0, index=self.ids)
        parsed = answers[answers["chosen"].notna()]
        try:
            with warnings.catch_warnings():
                # A disconnected graph (after unparseable answers) is fine for choosing pairs:
                # the uncertain entities are exactly the ones to connect.
                warnings.simplefilter("ignore", RuntimeWarning)
                fit = bradley_terry(answers, bootstrap=0, ridge=PLANNING_RIDGE).score
            theta.update(((fit - ELO_CENTER) / ELO_PER_LOGIT).dropna())
        except DegenerateInputError:
            pass  # nothing parsed yet: every pair is equally uncertain
        codes = pd.Index(self.ids)
        a = codes.get_indexer(parsed["entity_a"])
        b = codes.get_indexer(parsed["entity_b"])
        mu = theta.to_numpy()
        p = expit(mu[a] - mu[b])
        weight = p * (1.0 - p)
        n = len(self.ids)
        information = (
            PLANNING_RIDGE
            + np.bincount(a, weights=weight, minlength=n)
            + np.bincount(b, weights=weight, minlength=n)
        )
        return theta, pd.Series(information, index=self.ids)


def _most_uncertain(
    theta: pd.Series,
    information: pd.Series,
    candidates: list[tuple[str, str]],
    count: int,
    weight: int,
) -> list[tuple[str, str]]:
    """Greedily the ``count`` candidates the fit most likely misorders (see module doc)."""
    index = {eid: i for i, eid in enumerate(theta.index)}
    a = np.array([index[x] for x, _ in candidates])
    b = np.array([index[y] for _, y in candidates])
    mu = theta.to_numpy(dtype=float)
    info = information.to_numpy(dtype=float).copy()
    gap = np.abs(mu[a] - mu[b])
    p = expit(mu[a] - mu[b])
    gain = weight * p * (1.0 - p)
    open_ = np.ones(len(candidates), dtype=bool)
    picked = []
    for _ in range(min(count, len(candidates))):
        misorder = ndtr(-gap / np.sqrt(1.0 / info[a] + 1.0 / info[b]))
        misorder[~open_] = -1.0
        best = int(np.argmax(misorder))  # first maximum: ties go to the canonical order
        picked.append(candidates[best])
        open_[best] = False
        info[a[best]] += gain[best]
        info[b[best]] += gain[best]
    return picked


def _rank_agreement(current: pd.Series, previous: pd.Series) -> float:
    """Spearman correlation between two fits; 0 when either is constant (nothing parsed yet),
    so a model whose answers never parse is never taken for a stable one."""
    from analysis import DegenerateInputError, spearman

    try:
        return float(spearman(current, previous, bootstrap=0).rho)
    except DegenerateInputError:
        return 0.0
