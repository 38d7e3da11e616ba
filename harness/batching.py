"""``--batch``: the requests a stage's trials send first go through the provider's batch API.

Called by the engine once per stage, before the stage's trials run (:func:`prefetch_batches`):

1. Every pending trial of a probe with ``first_requests`` names the subject requests it sends
   before it has seen any answer (pairwise, ranking and BoolQ questions, a donation query's
   first attempt); each is keyed by the response cache's own key (model, endpoint, request).
2. Answers already downloaded (this session or an earlier one) are handed to the subject
   model's :class:`~harness.model.BatchAnsweredModel`. Requests in a batch that is still live
   wait for it; requests the response cache already answers are left to it.
3. With ``--batch`` the rest are submitted: chunked to the provider's limits, and only as many
   as the budget can reserve at the batch price (counted input plus the output cap), so a cap
   still holds. Each batch is recorded in the run store as soon as the provider has created it,
   before any polling.
4. Live batches are polled every ``--batch-poll`` seconds (growing to ten times that) until they
   end; each one's results are stored in one transaction.
5. Items that failed for a reason another batch may not have (expired, cancelled, server
   errors, rate limits) go into a new batch, up to :data:`BATCH_ATTEMPTS` batches per request;
   after that, and for requests the provider rejected, the trial's call goes online, where it
   succeeds or fails as any online call does.

The trials then run exactly as online: their first call is answered from the batch result,
parsed by the provider's own code, and recorded, priced (batch discount) and stored like any
call; later calls (refusal retries, user and judge models) go online. A killed or interrupted
process leaves its batches running: a resume, with or without ``--batch``, polls the same
batches and uses their answers, since that money is already committed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.errors import HarnessError
from harness.model import (
    BatchAnsweredModel,
    BatchAPI,
    BatchItem,
    BatchResult,
    BatchStatus,
    BudgetExhausted,
    CachedModel,
    ModelError,
    ModelRequest,
    ModelResponse,
    RetryPolicy,
    TransientModelError,
    batch_api,
    batch_layer,
    unwrap,
)
from harness.model._budget import DEFAULT_OUTPUT_RESERVATION, reservation_for
from harness.probes import Probe, RunContext, Trial

BATCH_ATTEMPTS = 2
"""Batches one request may go into; after that its trial asks online. Each failed batch can
cost up to a day (the completion window), so one retry is the bound."""
POLL_GROWTH = 1.5
MAX_POLL_FACTOR = 10
"""The poll interval grows by ``POLL_GROWTH`` each round, to at most this many times
``--batch-poll``."""

T = TypeVar("T")


class BatchFailed(HarnessError):
    """The batch API failed beyond retries while a batch was live. The batch stays recorded:
    resuming the run polls it again."""


@dataclass(frozen=True)
class _Wanted:
    """A request a pending trial sends first."""

    key: str
    trial_id: str
    request: ModelRequest


async def prefetch_batches(
    run: RunContext,
    stage: list[Probe],
    settings: Any,
    progress: Any,
    skip: Collection[str] = (),
) -> None:
    """Get batch answers for the first requests of ``stage``'s pending trials (see the module
    docstring), leaving out the trial ids in ``skip`` (tried already in this process). Called
    for each stage, and for each further round of an adaptive probe. Does nothing for models
    without a batch API, and costs one flag check for a run that never used ``--batch``."""
    layer = batch_layer(run.models["subject"])
    if layer is None or not (settings.batch or run.store.has_batches()):
        return
    await _Session(run, layer, settings, progress).prefetch(stage, set(skip))


Answers = dict[str, tuple[ModelResponse, float]]
"""Batch answers by request key, each with the budget reservation it carries."""


def take_answers(run: RunContext, probe: Probe, trials: list[Trial]) -> Answers:
    """The batch answers ``trials`` will use, taken out of this process's subject model, for
    an executor that runs the trials in other processes (:func:`give_answers` there). Each
    answer is taken once, so it answers one trial, as it would here."""
    layer = batch_layer(run.models["subject"])
    first = getattr(probe, "first_requests", None)
    if layer is None or not layer.answers or first is None:
        return {}
    taken: Answers = {}
    for trial in trials:
        for request in first(trial, run):
            key = layer.key(request)
            if key in layer.answers:
                taken[key] = layer.answers.pop(key)
    return taken


def give_answers(run: RunContext, answers: Answers) -> None:
    """Hand answers from :func:`take_answers` to this process's subject model."""
    layer = batch_layer(run.models["subject"])
    if layer is not None:
        for key, (response, hold) in answers.items():
            layer.offer(key, response, hold)


class _Session:
    """One stage's batching: what is wanted, what the store has, what to submit and poll."""

    def __init__(self, run: RunContext, layer: BatchAnsweredModel, settings: Any, progress: Any):
        self.run = run
        self.store = run.store
        self.layer = layer
        self.settings = settings
        self.console = progress.console
        self.provider = unwrap(run.models["subject"])
        self._api: BatchAPI | None = None
        self.cache = _response_cache(run.models["subject"])
        self.online: set[str] = set()
        """Keys whose batch submission failed this session: they go online."""
        self.resubmitted = 0
        self._rng = random.Random()

    @property
    def api(self) -> BatchAPI:
        if self._api is None:
            self._api = batch_api(self.provider)  # type: ignore[arg-type]
        return self._api

    # -- the loop ------------------------------------------------------------------------------
    async def prefetch(self, stage: list[Probe], skip: set[str]) -> None:
        batchable = [p for p in stage if hasattr(p, "first_requests")]
        label = "+".join(p.name for p in batchable) or "+".join(p.name for p in stage)
        wanted = self._wanted(batchable, skip)
        self._hold_committed()
        while True:
            self._offer(wanted)
            live = self.store.live_batches()
            if live:
                await self._poll(live)
                continue
            todo = self._to_submit(wanted) if self.settings.batch else []
            if not todo or not await self._submit(todo, label):
                break
        self._release_unoffered()
        if wanted:
            rest = [key for key in wanted if key not in self.layer.answers]
            cached = sum(self.cache is not None and self.cache.get(key) is not None for key in rest)
            self._say(
                f"{label}: {len(wanted) - len(rest):,} of {len(wanted):,} first requests "
                "answered by batch"
                + (f" ({self.resubmitted:,} after a retry)" if self.resubmitted else "")
                + (f"; {cached:,} by the response cache" if cached else "")
                + (f"; {len(rest) - cached:,} go online" if len(rest) > cached else "")
            )

    def _wanted(self, probes: list[Probe], skip: set[str]) -> dict[str, _Wanted]:
        done = self.store.completed_ids() | skip
        wanted: dict[str, _Wanted] = {}
        for probe in probes:
            first = probe.first_requests  # type: ignore[attr-defined]
            for trial in probe.plan(self.run):
                if trial.id in done:
                    continue
                for request in first(trial, self.run):
                    key = self.layer.key(request)
                    # Identical requests go once; the response cache answers the repeats.
                    wanted.setdefault(key, _Wanted(key, trial.id, request))
        return wanted

    # -- budget --------------------------------------------------------------------------------
    def _hold_committed(self) -> None:
        """Hold what earlier sessions' batches may still cost (live, or answered but unused):
        new calls must not spend money those batches have already committed."""
        for row in self.store.batch_items():
            item = (row["batch_id"], row["custom_id"])
            live = row["state"] == "submitted" and row["live"]
            if (live or row["state"] == "succeeded") and item not in self.layer.held:
                amount = float(row["reserved"] or 0.0)
                if self.layer.budget is not None and amount:
                    self.layer.budget.hold(amount)
                self.layer.held[item] = amount

    def _release(self, item: tuple[str, str]) -> None:
        amount = self.layer.held.pop(item, 0.0)
        if self.layer.budget is not None and amount:
            self.layer.budget.settle(amount, 0.0)

    def _release_unoffered(self) -> None:
        """Answers no pending trial of this stage asked for keep no reservation (a later stage
        holds them again when it wants them)."""
        live = {b["batch_id"] for b in self.store.live_batches()}
        for item in [i for i in self.layer.held if i[0] not in live]:
            self._release(item)

    def _reserve(self, request: ModelRequest) -> float | None:
        """Reserve one item at the batch price; None when the budget cannot take it."""
        price, budget = self.layer.price, self.layer.budget
        if price is None:
            return 0.0
        amount = reservation_for(self.provider.name, request, DEFAULT_OUTPUT_RESERVATION).cost(
            price, batch=True
        )
        if budget is not None:
            try:
                budget.reserve(amount)
            except BudgetExhausted:
                return None
        return amount

    # -- answers ------------------------------------------------------------------------------
    def _offer(self, wanted: dict[str, _Wanted]) -> None:
        """Hand every downloaded, unused answer a pending trial wants to the subject model."""
        for row in self.store.batch_items():
            key = row["request_key"]
            if row["state"] != "succeeded" or key not in wanted or key in self.layer.answers:
                continue
            item = (row["batch_id"], row["custom_id"])
            try:
                response = self.api.response(json.loads(row["result"]), wanted[key].request)
            except (ModelError, ValueError, TypeError) as error:
                # A body the online path would reject: tried again like any failed item.
                self.store.fail_batch_item(*item, str(error))
                self._release(item)
                continue
            price = self.layer.price
            cost = None if price is None else price.cost(response.usage, batch=True)
            # The answer carries its reservation from here on; its trial settles it at the cost.
            hold = self.layer.held.pop(item, 0.0)
            self.layer.offer(key, response.model_copy(update={"cost": cost}), hold)

    def _to_submit(self, wanted: dict[str, _Wanted]) -> list[_Wanted]:
        rows: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.batch_items():
            rows.setdefault(row["request_key"], []).append(row)
        todo = []
        for key, want in wanted.items():
            if key in self.layer.answers or key in self.online:
                continue
            history = rows.get(key, [])
            if any(r["state"] in ("submitted", "succeeded") for r in history):
                continue
            failed = [r for r in history if r["state"] == "failed"]
            if any(not r["retry"] for r in failed) or len(failed) >= BATCH_ATTEMPTS:
                continue  # rejected, or out of batch attempts: its trial asks online
            if self.cache is not None and self.cache.get(key) is not None:
                continue  # the response cache answers it for nothing
            self.resubmitted += bool(failed)
            todo.append(want)
        return todo

    # -- submitting ---------------------------------------------------------------------------
    async def _submit(self, todo: list[_Wanted], label: str) -> bool:
        """Submit what the budget allows, in chunks the provider accepts; True if any batch
        was created."""
        api = self.api
        accepted: list[tuple[_Wanted, BatchItem, float, int]] = []
        refused: list[_Wanted] = []
        for index, want in enumerate(todo):
            try:
                body = self.provider.build_body(want.request)  # type: ignore[attr-defined]
            except ModelError:
                self.online.add(want.key)  # e.g. an unsupported feature: fails online as usual
                continue
            item = BatchItem(custom_id=want.key, body=body)
            size = api.size(item)
            if size > api.max_bytes:
                self.online.add(want.key)
                continue
            amount = self._reserve(want.request)
            if amount is None:
                refused = todo[index:]
                break
            accepted.append((want, item, amount, size))
        if refused:
            # Never more than the cap allows; the trials of the rest ask online, where the
            # same budget refuses them and the run ends budget-exhausted, resumable.
            self._say(
                f"budget: {len(accepted):,} of {len(accepted) + len(refused):,} requests fit "
                "the budget at the batch price; the rest are not submitted",
                "yellow",
            )
            self.online.update(want.key for want in refused)
        chunks: list[list[tuple[_Wanted, BatchItem, float, int]]] = []
        size = 0
        for entry in accepted:
            if not chunks or len(chunks[-1]) >= api.max_requests or size + entry[3] > api.max_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += entry[3]
        created = False
        for index, chunk in enumerate(chunks):
            submission = f"harness-{uuid.uuid4().hex}"
            metadata = {
                "harness_run": self.run.run_id[:512],
                "harness_stage": label[:512],
                "harness_part": f"{index + 1}/{len(chunks)}",
                "harness_submission": submission,
            }
            # Recorded before the provider is asked: a process killed while the batch is being
            # created finds it again on resume instead of creating (and paying for) another.
            self.store.begin_batch(
                submission,
                self.provider.name,
                label,
                [
                    (item.custom_id, want.key, want.trial_id, amount)
                    for want, item, amount, _ in chunk
                ],
            )
            for _, item, amount, _ in chunk:
                self.layer.held[(submission, item.custom_id)] = amount
            try:
                batch_id = await self._create([entry[1] for entry in chunk], metadata, submission)
            except BatchFailed as error:
                self._abandon(submission)
                self.online.update(want.key for want, _, _, _ in chunk)
                self._say(f"{error}; its {len(chunk):,} requests go online", "yellow")
                continue
            self._confirm(submission, batch_id)
            self._say(f"submitted batch {batch_id} ({label}): {len(chunk):,} requests")
            created = True
        return created

    async def _create(
        self, items: list[BatchItem], metadata: dict[str, str], submission: str
    ) -> str:
        """Create a batch; a retry first looks for the batch an earlier attempt may have
        created before its answer was lost, so a flaky connection cannot create it twice."""
        since = time.time()
        attempted = False

        async def once() -> str:
            nonlocal attempted
            if attempted and (found := await self.api.find(submission, len(items), since)):
                return found
            attempted = True
            return await self.api.submit(items, metadata)

        return await self._call(once, f"{self.provider.name}: creating a batch")

    def _confirm(self, submission: str, batch_id: str) -> None:
        self.store.confirm_batch(submission, batch_id)
        for item in [i for i in self.layer.held if i[0] == submission]:
            self.layer.held[(batch_id, item[1])] = self.layer.held.pop(item)

    def _abandon(self, submission: str) -> None:
        for item in [i for i in self.layer.held if i[0] == submission]:
            self._release(item)
        self.store.abandon_batch(submission)

    async def _recover(self, batch: dict[str, Any]) -> None:
        """A submission a killed process left unconfirmed: adopt the batch the provider
        created for it, or forget it if there is none (its requests are submitted again)."""
        submission = batch["batch_id"]
        found = await self._call(
            lambda: self.api.find(submission, batch["items"], batch["created"]),
            f"{self.provider.name}: looking up an interrupted batch submission",
        )
        if found:
            self._confirm(submission, found)
            self._say(f"found batch {found}, created by an interrupted submission; polling it")
            return
        self._abandon(submission)
        self._say(
            f"an interrupted submission of {batch['items']:,} requests matches no batch at "
            "the provider; submitting them again (had it been created, it would be billed "
            "but its answers not used)",
            "yellow",
        )

    # -- polling ------------------------------------------------------------------------------
    async def _poll(self, live: list[dict[str, Any]]) -> None:
        unconfirmed = [batch for batch in live if batch["status"] == "creating"]
        for batch in unconfirmed:
            await self._recover(batch)
        if unconfirmed:
            return  # the loop reads the live batches again
        api = self.api
        pending = {batch["batch_id"]: batch for batch in live}
        interval = self.settings.batch_poll
        self._say(
            f"waiting for {len(pending)} batch(es) (up to 24 h); "
            "Ctrl-C leaves them running at the provider and `harness run --resume "
            f"{self.run.run_id}` collects them"
        )
        try:
            while pending:
                for batch_id, batch in list(pending.items()):
                    status = await self._call(
                        lambda b=batch_id: api.status(b),
                        f"{self.provider.name}: polling batch {batch_id}",
                    )
                    seen = (batch["status"], batch["done"], batch["failed"])
                    if (status.status, status.done, status.failed) != seen:
                        self.store.update_batch(batch_id, status.status, status.done, status.failed)
                        batch.update(status=status.status, done=status.done, failed=status.failed)
                        self._say(
                            f"batch {batch_id} ({batch['stage']}): {status.status}, "
                            f"{status.done:,}/{status.total or batch['items']:,} done"
                            + (f", {status.failed:,} failed" if status.failed else "")
                        )
                    if status.ended:
                        results = await self._call(
                            lambda b=batch_id: api.results(b),
                            f"{self.provider.name}: downloading the results of batch {batch_id}",
                        )
                        self._finish(batch_id, status, results)
                        del pending[batch_id]
                if pending:
                    await asyncio.sleep(interval)
                    interval = min(
                        interval * POLL_GROWTH, self.settings.batch_poll * MAX_POLL_FACTOR
                    )
        except asyncio.CancelledError:
            self._say(
                f"interrupted: {len(pending)} batch(es) left running at the provider "
                f"({', '.join(pending)}); `harness run --resume {self.run.run_id}` polls them "
                "again and uses their answers",
                "yellow",
            )
            raise

    def _finish(self, batch_id: str, status: BatchStatus, results: list[BatchResult]) -> None:
        rows = [
            (
                r.custom_id,
                "succeeded" if r.result is not None else "failed",
                None if r.result is None else json.dumps(r.result, separators=(",", ":")),
                r.error,
                r.retry,
            )
            for r in results
        ]
        missing = f"no result: the batch ended {status.status} before this request ran" + (
            f" ({status.detail})" if status.detail else ""
        )
        self.store.finish_batch(batch_id, status.status, rows, missing)
        for row in self.store.batch_items():
            if row["batch_id"] == batch_id and row["state"] == "failed":
                self._release((batch_id, row["custom_id"]))
        failed = sum(1 for r in rows if r[1] == "failed")
        self._say(
            f"batch {batch_id}: {status.status}; {len(rows) - failed:,} answers downloaded"
            + (f", {failed:,} failed" if failed else "")
        )

    # -- helpers ------------------------------------------------------------------------------
    async def _call(self, make: Callable[[], Awaitable[T]], what: str) -> T:
        """One batch-API call, retried like a model call; a failure beyond that is a
        :class:`BatchFailed` naming what was being done."""
        policy = RetryPolicy(max_retries=self.settings.max_retries)
        retry = 0
        while True:
            try:
                return await make()
            except TransientModelError as error:
                if retry >= policy.max_retries:
                    raise BatchFailed(f"{what} failed: {error}") from None
                await asyncio.sleep(policy.wait_for(retry, error, self._rng))
                retry += 1
            except ModelError as error:
                raise BatchFailed(f"{what} failed: {error}") from None

    def _say(self, text: str, style: str = "dim") -> None:
        # Named by model: the runs of a study batch at the same time. No markup: provider
        # messages and ids may hold brackets.
        if not text.startswith(self.provider.name):
            text = f"{self.provider.name}: {text}"
        self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def _response_cache(model: Any) -> Any:
    """The response cache the subject model reads, if any (its key is the batch key)."""
    while model is not None:
        if isinstance(model, CachedModel):
            return model.cache
        model = getattr(model, "inner", None)
    return None
