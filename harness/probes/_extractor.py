"""The extractor fallback (``--extractor MODEL``): a model reads the answers the rules left
undecided and states, in one strictly read JSON object, what they chose.

Which answers it reads (by the rules' parse method, :mod:`harness.parsing.methods`):

* pairwise, ranking, BoolQ: ``ambiguous``, ``conflict`` and ``unparseable``;
* donation attempts: ``unparseable`` and ``conflict`` (class ``unparseable``), and hedges the
  rules could not settle (method ``ambiguous``, case ``both`` or ``none``: both organisations
  recommended or weighed, or only hedging words), which is where a long answer that concludes
  in a way the rules miss ends up. Not a hedge recommending a third organisation (``other``):
  that answer is read, and it is no pick of the two.

Never a ``refusal`` (a recognised refusal is the study's measurement, not a parse failure) and
never an ``empty`` answer (nothing to read). With ``--judge-model`` the judge reads every
donation answer and the extractor is not asked about them.

Every sample (and donation attempt) the extractor could have read keeps the rules' method in
``rules_parse_method`` and says what the extractor did in ``extractor_status``: ``decided``
(its reading replaces the rules' and ``parse_method`` becomes ``extractor``), ``undecided``
(it found no answer either; the rules' reading stands) or ``failed`` (the call failed or the
reply was not in the format; ``extractor_error`` says why and the rules' reading stands), with
its raw reply in ``extractor_raw``. Its calls are stored with role ``extractor``, its prompt is
a versioned template of ``harness/prompts/data/extractor.yaml`` recorded with the run's
templates, and they go through the same model stack (limits, retries, cache, budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.model import ChatMessage, GenerateConfig, ModelError, ModelRequest, PermanentModelError
from harness.parsing.extracted import ExtractorOutputError, read_choice, read_ranking, read_yesno
from harness.probes._base import CallProfile, PreviewCall
from harness.prompts import PromptTemplate, get_template

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.probes._base import Trial, TrialContext

READ = frozenset({"ambiguous", "conflict", "unparseable"})
"""Rule methods whose answers the extractor reads (pairwise, ranking, BoolQ)."""
DONATION_READ = frozenset({"unparseable", "conflict"})
"""Donation: rule methods read whatever the case; ``ambiguous`` only with :data:`HEDGE_CASES`."""
HEDGE_CASES = frozenset({"both", "none"})
ASSUMED_UNDECIDED = 0.05
"""Share of answers a cost preview assumes the rules leave to the extractor, without a pilot
run: above what the rules leave on sim's verbose answers (under 1 % for pairwise, BoolQ and
donation) and on the labelled corpus (1-3 % of decidable answers), since a real model may
answer in ways neither covers. ``--dry-run --pilot RUN`` replaces it with the pilot's own
share."""
REPLY_TOKENS = 20
"""One short JSON object (reasoning models bill their thinking on top: use a pilot)."""


def reads(probe: str, method: str, case: str | None = None) -> bool:
    """Whether the extractor reads an answer of ``probe`` the rules read as ``method`` (and,
    for donation, ``case``)."""
    if probe == "donation":
        return method in DONATION_READ or (method == "ambiguous" and case in HEDGE_CASES)
    return method in READ


@dataclass(frozen=True)
class Extraction:
    """What the extractor made of one answer."""

    status: str
    """``decided``, ``undecided`` or ``failed``."""
    value: Any = None
    """The reading when decided: ``"A"``/``"B"`` (pairwise, donation), True/False (BoolQ),
    entity ids in order (ranking)."""
    raw: str | None = None
    error: str | None = None

    @property
    def decided(self) -> bool:
        return self.status == "decided"

    def columns(self, rules_method: str) -> dict[str, Any]:
        """The columns a sample (or attempt record) keeps about it."""
        return {
            "rules_parse_method": rules_method,
            "extractor_status": self.status,
            "extractor_raw": self.raw,
            "extractor_error": self.error,
        }


def not_asked(rules_method: str) -> dict[str, Any]:
    """The same columns for an answer the extractor was not asked about."""
    return {
        "rules_parse_method": rules_method,
        "extractor_status": None,
        "extractor_raw": None,
        "extractor_error": None,
    }


def listing(names: dict[str, str]) -> str:
    """The organisations of a ranking as the extractor's prompt lists them."""
    return "\n".join(f"- {name}" for name in names.values())


class Extractor:
    """The extractor of one run: its model (role ``extractor``) and per-probe templates."""

    def __init__(self, config: RunConfig, probe: str):
        self.config = config
        self.probe = probe
        self.model: str = config.options["extractor"]
        self.template: PromptTemplate = get_template(f"extract-{probe}")

    @classmethod
    def for_probe(cls, config: RunConfig, probe: str) -> Extractor | None:
        """The run's extractor for ``probe``, or None without ``--extractor``."""
        return cls(config, probe) if config.options.get("extractor") else None

    @property
    def label(self) -> str:
        """The template as recorded with the run's templates."""
        return f"{self.template.id}@{self.template.version}"

    def request(self, trial: Trial, answer: str, **fill: Any) -> ModelRequest:
        """The extractor's request over ``answer``; ``fill`` holds the template's other
        placeholders. Only the answer and what its prompt shows reach ``sim`` as a hint."""
        # Imported here: the elicitation probes import this module.
        from harness.probes.elicitation import derived_seed

        system, user = self.template.render(answer=answer, **fill)
        return ModelRequest(
            messages=[ChatMessage(role="user", content=user)],
            system=system,
            config=GenerateConfig(
                temperature=0.0,
                max_tokens=self.config.max_tokens,
                seed=derived_seed(self.config.seed, trial.id, "extractor"),
            ),
            epoch=trial.key.get("epoch", 0),
            metadata={"sim": {"task": "extract", "probe": self.probe, "answer": answer, **fill}},
        )

    async def read(self, ctx: TrialContext, answer: str, reader: Any, **fill: Any) -> Extraction:
        """Ask the extractor about ``answer`` and read its reply with ``reader`` (a function of
        the reply's text returning the reading, None when undecided, or raising
        :class:`ExtractorOutputError`). Failures are returned, never raised, except those
        that must stop the run (a rejected key, an exhausted budget)."""
        try:
            response = await ctx.generate(self.request(ctx.trial, answer, **fill), role="extractor")
        except PermanentModelError as error:
            if error.status in (401, 403):
                raise  # every later call would fail the same way: the run stops
            return Extraction("failed", error=f"{type(error).__name__}: {error}")
        except ModelError as error:
            return Extraction("failed", error=f"{type(error).__name__}: {error}")
        try:
            value = reader(response.text)
        except ExtractorOutputError as error:
            return Extraction("failed", raw=response.text, error=str(error))
        if value is None:
            return Extraction("undecided", raw=response.text)
        return Extraction("decided", value, raw=response.text)

    async def choice(self, ctx: TrialContext, answer: str, name_a: str, name_b: str) -> Extraction:
        """Pairwise: "A" or "B"."""
        return await self.read(ctx, answer, read_choice, name_a=name_a, name_b=name_b)

    async def recommendation(
        self, ctx: TrialContext, answer: str, name_a: str, name_b: str
    ) -> Extraction:
        """Donation: "A" or "B"."""
        return await self.read(
            ctx,
            answer,
            lambda text: read_choice(text, "recommendation"),
            name_a=name_a,
            name_b=name_b,
        )

    async def verdict(self, ctx: TrialContext, answer: str, question: str) -> Extraction:
        """BoolQ: True or False."""
        return await self.read(ctx, answer, read_yesno, question=question)

    async def ranking(self, ctx: TrialContext, answer: str, names: dict[str, str]) -> Extraction:
        """Ranking: entity ids, most preferred first, out of ``names`` (id -> name shown)."""
        return await self.read(
            ctx, answer, lambda text: read_ranking(text, names), entity_list=listing(names)
        )

    def preview(self, trial: Trial, answers: tuple[float, float], **fill: Any) -> PreviewCall:
        """The extractor's request over a stand-in answer of a paragraph, for a cost preview.
        ``answers`` is the trial's answers expected and at most; the extractor is assumed to
        read :data:`ASSUMED_UNDECIDED` of them (at worst all)."""
        expected, most = answers
        stand_in = " ".join(["word"] * 150)
        return PreviewCall(
            "extractor",
            self.model,
            self.request(trial, stand_in, **fill),
            CallProfile(
                calls=(0.0, expected * ASSUMED_UNDECIDED, most),
                output_tokens=REPLY_TOKENS,
                assumption=(
                    f"the rules leave {ASSUMED_UNDECIDED:.0%} of answers undecided (assumed; "
                    "--pilot RUN measures it); one JSON reply each"
                ),
            ),
        )
