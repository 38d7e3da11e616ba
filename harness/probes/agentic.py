"""The agentic probe: does an agent do worse on sandboxed tasks framed as work for an entity its
model dislikes? Every task runs under every framing phrasing for each of the ``--top-k`` most
and least preferred entities, plus a neutral control, in a fresh container per sample, and is
graded by the task's own hidden grader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from rich.console import Console
from rich.table import Table

from harness.config import RunConfig
from harness.errors import ConfigError, HarnessError, UsageError
from harness.model import ChatMessage, ModelRequest
from harness.probes._base import (
    CallProfile,
    PreviewCall,
    ProbeFailure,
    RunContext,
    Trial,
    TrialContext,
    make_trial,
    probe,
)
from harness.probes._preferences import extremes, run_preferences
from harness.probes.elicitation import generate_config
from harness.prompts import PromptTemplate, templates_for
from harness.store import RunStore
from harness.summary import summary_section

if TYPE_CHECKING:
    from agents import AgentResult, AgentState
    from envs import Sandbox

DEFAULT_TOP_K = 5
ASSUMED_STEPS = 12
"""Model calls per sample a cost preview assumes without a pilot run (sim's reference agent
takes 4-10; real agents on these tasks typically take 5-20)."""
ASSUMED_STEP_OUTPUT = 150
"""Tokens an agent writes per step (a short thought and a tool call)."""
ASSUMED_STEP_GROWTH = 400
"""Tokens each step adds to the next request's input (its message, a capped tool result)."""
GROUPS = ("top", "bottom", "neutral")
T = TypeVar("T")


class AgenticProbe:
    """Plans task x (phrasing x entity + neutral) x epoch trials; runs each as one sample."""

    name = "agentic"

    def __init__(self, config: RunConfig):
        # Imported here: the agent stack (LangGraph, the Docker SDK) is not needed by the
        # other suites, and importing the probes registry should stay cheap.
        import tasks

        self.config = config
        self.top_k = int(config.options.get("top_k") or DEFAULT_TOP_K)
        if self.top_k < 1:
            raise UsageError(f"--top-k must be at least 1, got {self.top_k}")
        if config.limit is not None and config.limit < 1:
            raise UsageError("--limit must be at least 1 task")
        self.provider = str(config.options.get("sandbox") or "docker")
        # A Docker sandbox per trial: it must run where a daemon is (see Probe).
        self.trial_resources = {"sandbox": 1.0} if self.provider == "docker" else {}
        wanted = config.options.get("task_filter")
        ids = [part.strip() for part in str(wanted).split(",") if part.strip()] if wanted else None
        # Loaded here, before any run directory exists, so a bad filter fails up front.
        task_dir = config.options.get("task_dir")
        found = tasks.load_tasks(root=task_dir, ids=ids)
        if not found:
            raise UsageError("no agentic tasks match " + (f"--tasks {wanted}" if wanted else ""))
        self.tasks = found[: config.limit] if config.limit else found
        self.by_id = {task.id: task for task in self.tasks}
        templates = templates_for(self.name)
        agent = [t for t in templates if t.tags.get("role") == "agent"]
        framings = [t for t in templates if t.tags.get("role") == "framing"]
        self.neutral = [t for t in framings if t.tags.get("framing") == "neutral"]
        self.phrasings = sorted(
            (t for t in framings if t.tags.get("framing") == "entity"), key=lambda t: t.id
        )
        if len(agent) != 1 or len(self.neutral) != 1 or not self.phrasings:
            raise ConfigError(
                "agentic templates need exactly one role=agent template, one neutral framing "
                "and at least one entity framing"
            )
        self.agent_template: PromptTemplate = agent[0]
        self.by_template = {t.id: t for t in framings}
        # Task hashes join the template ids in the hashed configuration, so a run cannot be
        # resumed after a task it uses has changed (its trials would no longer match).
        self.templates = [
            *(f"{t.id}@{t.version}" for t in (*agent, *self.neutral, *self.phrasings)),
            *(f"task:{t.id}@{t.content_hash}" for t in self.tasks),
        ]
        self.preferences: dict[str, float] = {}
        self.groups: dict[str, str] = {}
        # Per run: containers running at once, and each task image built once.
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._images: dict[str, asyncio.Future[str]] = {}
        self._swept: dict[str, asyncio.Future[None]] = {}

    def __getstate__(self) -> dict[str, Any]:
        """The planned probe without this process's running state (semaphores, image builds
        and sweeps under way), which another process does not share."""
        return {**self.__dict__, "_slots": {}, "_images": {}, "_swept": {}}

    # -- planning ----------------------------------------------------------------------------
    def entities(self, run: RunContext) -> list[str]:
        """The ``--top-k`` most and least preferred entity ids; fixes groups and scores."""
        ids = {e.id for e in run.entities}
        scores = run_preferences(run)
        scores = scores[scores.index.isin(ids)]
        top, bottom = extremes(scores, self.top_k)
        self.preferences = {str(k): float(v) for k, v in scores.items()}
        self.groups = {**{e: "top" for e in top}, **{e: "bottom" for e in bottom}}
        return top + bottom

    def plan(self, run: RunContext) -> list[Trial]:
        entities = self.entities(run)
        trials = []
        for task in self.tasks:
            for epoch in range(self.config.epochs):
                trials.append(self._trial(task, self.neutral[0], None, epoch))
                for template in self.phrasings:
                    for entity in entities:
                        trials.append(self._trial(task, template, entity, epoch))
        return trials

    def _trial(self, task: Any, template: PromptTemplate, entity: str | None, epoch: int) -> Trial:
        return make_trial(
            self.name,
            task_id=task.id,
            task_hash=task.content_hash,
            framing=template.tags["framing"],
            template_id=template.id,
            template_version=template.version,
            entity=entity,
            epoch=epoch,
        )

    def estimate(self, run: RunContext) -> str:
        per_task = 1 + len(self.phrasings) * 2 * self.top_k
        samples = len(self.tasks) * per_task * self.config.epochs
        return (
            f"agentic: {len(self.tasks)} task(s) x ({len(self.phrasings)} phrasings x "
            f"{2 * self.top_k} entities + 1 neutral) x {self.config.epochs} epoch(s) = "
            f"{samples:,} sandboxed samples, at most {run.max_sandboxes} at once"
        )

    # -- running -----------------------------------------------------------------------------
    def _slot(self, run: RunContext) -> asyncio.Semaphore:
        if run.run_id not in self._slots:
            self._slots[run.run_id] = asyncio.Semaphore(max(1, run.max_sandboxes))
        return self._slots[run.run_id]

    async def _sweep(self, run_id: str) -> None:
        """Once per run and process, before its first sandbox: remove containers still
        labelled with the run whose owner process has died.

        They can only be left by a process of this run that was killed outright (``kill
        -9``: no ``finally`` ran); containers of processes still running (other workers of
        the run, on the same daemon) are left alone.
        """
        if self.provider == "docker":
            await _once(self._swept, run_id, lambda: _remove_leftovers(run_id))

    async def _image(self, task: Any) -> str:
        """The task's image, built at most once per run however many samples wait for it."""
        import tasks

        return await _once(self._images, task.id, lambda: tasks.task_image(task))

    def render(self, task: Any, template: PromptTemplate, entity: Any | None) -> str:
        """The first user message: the task prompt inside its framing."""
        _, user = template.render(
            task=task.prompt.strip(),
            entity=entity.name if entity else "",
            entity_description=entity.description if entity else "",
        )
        return user

    def preview(self, trial: Trial, run: RunContext) -> list[PreviewCall]:
        """The agent's first request (system prompt, framed task, tool definitions); later
        steps add the transcript so far."""
        from agents import AgentLimits, tool_specs

        task = self.by_id[trial["task_id"]]
        entity = run.entities.get(trial["entity"]) if trial["entity"] else None
        system, _ = self.agent_template.render()
        limits = AgentLimits.from_task(task.limits)
        request = ModelRequest(
            messages=[
                ChatMessage(
                    role="user",
                    content=self.render(task, self.by_template[trial["template_id"]], entity),
                )
            ],
            system=system,
            tools=tool_specs(),
            config=generate_config(self.config, trial),
        )
        profile = CallProfile(
            calls=(1.0, min(float(ASSUMED_STEPS), limits.steps), float(limits.steps)),
            output_tokens=ASSUMED_STEP_OUTPUT,
            input_growth=ASSUMED_STEP_GROWTH,
            assumption=(
                f"steps per sample: assumed {ASSUMED_STEPS}, at most the task's {limits.steps}; "
                f"each step adds about {ASSUMED_STEP_GROWTH} tokens of transcript"
            ),
        )
        return [PreviewCall("subject", self.config.model, request, profile)]

    async def run(self, trial: Trial, ctx: TrialContext) -> dict[str, Any]:
        import tasks
        from agents import AgentLimits, build_agent, make_tools, run_agent
        from envs import SandboxError, sandbox_provider

        task = self.by_id[trial["task_id"]]
        entity = ctx.run.entities.get(trial["entity"]) if trial["entity"] else None
        prompt = self.render(task, self.by_template[trial["template_id"]], entity)
        system, nudge = self.agent_template.render()
        limits = AgentLimits.from_task(task.limits)
        hint = _sim_hint(
            trial,
            task,
            entity.id if entity else None,
            tasks.reference_commands(task),
            tasks.wrong_attempt_commands(task),
        )
        await self._sweep(ctx.run.run_id)
        image = await self._image(task)
        factory = sandbox_provider(self.provider)
        async with self._slot(ctx.run):
            try:
                async with factory(
                    tasks.sandbox_spec(task, image), run_id=ctx.run.run_id, sample_id=trial.id
                ) as sandbox:
                    await tasks.setup_workspace(sandbox, task)
                    agent = build_agent(
                        ctx.generate,
                        make_tools(sandbox, limits),
                        limits,
                        system=system,
                        config=generate_config(self.config, trial),
                        epoch=trial["epoch"],
                        metadata=hint,
                        nudge=nudge,
                    )
                    result = await run_agent(agent, prompt, limits)
                    _record(ctx, result)
                    if result.stop_reason == "error":
                        # A broken sandbox or a model that failed past its retries: the sample
                        # says nothing about the model's skill, so it is an errored sample
                        # (excluded from analysis, re-run on resume), not a failed task.
                        raise ProbeFailure(result.error or "the agent failed")
                    grade = await _grade(sandbox, task, result.submission)
            except SandboxError as failure:
                if isinstance(failure, HarnessError):
                    raise  # no Docker, or an image that will not build: the user must act
                raise ProbeFailure(f"sandbox failed: {type(failure).__name__}: {failure}") from None
        return {
            "task_id": task.id,
            "task_version": task.version,
            "task_hash": task.content_hash,
            "category": task.category,
            "difficulty": task.difficulty,
            "entity": entity.id if entity else None,
            "group": self.groups.get(entity.id) if entity else "neutral",
            "preference": self.preferences.get(entity.id) if entity else None,
            "framing": trial["framing"],
            "phrasing": self.by_template[trial["template_id"]].tags.get("phrasing"),
            "template_id": trial["template_id"],
            "template_version": trial["template_version"],
            "passed": bool(grade.passed),
            "score": grade.score,
            "grade_details": grade.details,
            "submission": result.submission,
            "stop_reason": result.stop_reason,
            "steps": result.steps,
            "tokens": result.tokens,
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "duration": round(result.duration, 3),
            "grade_duration": grade.duration,
            "protected_touches": len(result.protected),
            "error": grade.error,
        }


probe("agentic")(AgenticProbe)


async def _once(
    started: dict[str, asyncio.Future[T]], key: str, make: Callable[[], Awaitable[T]]
) -> T:
    """Await ``make()`` started only by the first caller for ``key``; later callers share it.

    Shielded: a cancelled sample must not cancel the work other samples wait for.
    """
    if key not in started:
        started[key] = asyncio.ensure_future(make())
    return await asyncio.shield(started[key])


async def _remove_leftovers(run_id: str) -> None:
    import envs

    removed = await asyncio.to_thread(envs.remove_orphans, run_id)
    if removed:
        Console(stderr=True).print(
            f"removed {removed} container(s) and network(s) left by an earlier, "
            f"killed process of run {run_id}"
        )


def _sim_hint(
    trial: Trial, task: Any, entity: str | None, reference: list[str], wrong: list[str]
) -> Any:
    """Request metadata for the simulated subject: which task and entity, the commands it may
    replay, how far it has got, and the last command output it saw. Real providers never
    send metadata anywhere."""

    def hint(state: AgentState) -> dict[str, Any]:
        last = next((e for e in reversed(state["transcript"]) if e["type"] == "tool"), None)
        return {
            "sim": {
                "task": "agent",
                "sample": trial.id,
                "task_id": task.id,
                "entity": entity,
                "reference": reference,
                "wrong": wrong,
                "step": state["steps"],
                "last_stdout": last.get("stdout") if last else None,
            }
        }

    return hint


def _record(ctx: TrialContext, result: AgentResult) -> None:
    """Store the transcript as ``agent_step`` records, one per entry, in order."""
    for index, entry in enumerate(result.transcript):
        ctx.record("agent_step", {"seq": index, **entry})


async def _grade(sandbox: Sandbox, task: Any, submission: str | None) -> Any:
    import tasks

    return await tasks.grade(sandbox, task, submission)


# -- summary ---------------------------------------------------------------------------------
def success_table(ok: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per value of ``by``: samples, success rate, mean score, mean steps and tokens."""
    grouped = ok.assign(
        passed=ok["passed"].astype(bool), score=pd.to_numeric(ok["score"], errors="coerce")
    ).groupby(by, dropna=False)
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "success": grouped["passed"].mean(),
            "score": grouped["score"].mean(),
            "steps": grouped["steps"].mean(),
            "tokens": grouped["tokens"].mean(),
        }
    )


def _rate_table(
    table: pd.DataFrame, title: str, label: str, order: list[str] | None = None
) -> Table:
    out = Table(label, "n", "success", "mean score", "mean steps", "mean tokens", title=title)
    rows = [k for k in (order or []) if k in table.index] + [
        k for k in table.index if k not in (order or [])
    ]
    for key in rows:
        row = table.loc[key]
        out.add_row(
            str(key),
            str(int(row["n"])),
            f"{100 * row['success']:.1f} %",
            f"{row['score']:.2f}",
            f"{row['steps']:.1f}",
            f"{row['tokens']:,.0f}",
        )
    return out


@summary_section("agentic")
def _summary(store: RunStore, meta: dict, console: Console) -> None:
    samples = store.samples_df("agentic")
    ok = samples[samples["status"] == "ok"] if not samples.empty else samples
    if ok.empty:
        console.print("agentic: no completed samples")
        return
    errors = len(samples) - len(ok)
    console.print(
        f"agentic: {len(ok):,} graded samples ({errors} errored) over "
        f"{ok['task_id'].nunique()} task(s); stop reasons: "
        + ", ".join(f"{k} {v}" for k, v in ok["stop_reason"].value_counts().items())
    )
    console.print(
        _rate_table(
            success_table(ok, "group"), "success by preference group", "group", list(GROUPS)
        )
    )
    console.print(_rate_table(success_table(ok, "template_id"), "success by framing", "framing"))
    by_category = (
        ok.assign(passed=ok["passed"].astype(bool))
        .pivot_table(index="category", columns="group", values="passed", aggfunc="mean")
        .reindex(columns=[g for g in GROUPS if g in set(ok["group"])])
    )
    table = Table("category", *by_category.columns, title="success by task category and group")
    for category, row in by_category.iterrows():
        table.add_row(
            str(category), *("" if pd.isna(v) else f"{100 * v:.0f} %" for v in row.to_list())
        )
    console.print(table)
    if {"top", "bottom"} <= set(ok["group"]):
        from analysis.agentic import agentic_analysis

        # The analysis's own confirmatory statistic, so the summary and `harness analyze` agree.
        (diff,) = [
            e
            for e in agentic_analysis(samples, bayes=False).estimates()
            if e.statistic == "agentic_top_minus_bottom"
        ]
        if diff.ok:
            interval = (
                f" [{diff.ci_low:+.1f}, {diff.ci_high:+.1f}]" if pd.notna(diff.ci_low) else ""
            )
            console.print(
                f"[bold]top minus bottom success[/]: {diff.estimate:+.1f} pp{interval}, "
                f"p = {diff.p:.2g} (agentic_top_minus_bottom, the confirmatory test: "
                f"entity-level permutation over {diff.n} entities); {diff.note}",
                soft_wrap=True,
            )
        else:
            top = ok.loc[ok["group"] == "top", "passed"].astype(bool).mean()
            bottom = ok.loc[ok["group"] == "bottom", "passed"].astype(bool).mean()
            console.print(
                f"top minus bottom success: {100 * (top - bottom):+.1f} pp (descriptive only; "
                f"the confirmatory agentic_top_minus_bottom is not available: {diff.note})",
                soft_wrap=True,
            )
