"""Studies: several models as one study, resume after kill -9, and failure isolation."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.store import Run, list_runs
from harness.study import model_specs, read_study, split_models, study_runs
from tests.conftest import LoopbackServer

FAST = ("--ranking-samples", "2", "--no-progress")


def only_study(log_dir: Path) -> Path:
    studies = [d for d in log_dir.iterdir() if (d / "study.json").is_file()]
    assert len(studies) == 1
    return studies[0]


def frame(directory: Path):
    with Run(directory) as run:
        return run.samples().drop(columns=["run_id"]).sort_values("trial_id").reset_index(drop=True)


# -- model lists and per-model arguments ------------------------------------------------------


def test_model_arguments_apply_to_all_or_to_one_model() -> None:
    specs = model_specs(
        split_models("openai/gpt-4o, anthropic/claude-sonnet-4-5,sim,sim"),
        {
            "max_tokens": "64",
            "openai/gpt-4o:reasoning_effort": "low",
            "sim#2:seed": "5",
            "sim:max_tokens": "8",
            "anthropic/claude-sonnet-4-5:base_url": "http://127.0.0.1:9/v1",
        },
    )
    assert [s.label for s in specs] == [
        "openai/gpt-4o",
        "anthropic/claude-sonnet-4-5",
        "sim",
        "sim#2",
    ]
    assert specs[0].args == {"max_tokens": "64", "reasoning_effort": "low"}
    assert specs[1].args == {"max_tokens": "64"}
    assert specs[1].base_url == "http://127.0.0.1:9/v1"
    assert specs[2].args == {"max_tokens": "8"}  # its own value wins over the shared one
    assert specs[3].args == {"max_tokens": "64", "seed": "5"}
    assert [s.directory_name for s in specs] == [
        "openai-gpt-4o",
        "anthropic-claude-sonnet-4-5",
        "sim",
        "sim-2",
    ]


def test_ollama_style_tags_in_model_names_still_take_their_own_arguments() -> None:
    (spec,) = model_specs(
        ["openai-compatible/llama3:8b"], {"openai-compatible/llama3:8b:seed": "1"}
    )
    assert spec.args == {"seed": "1"}


@pytest.mark.parametrize(
    ("models", "args", "message"),
    [
        ("sim,,sim", {}, "empty model name"),
        ("sim", {"openai/gpt-4o:seed": "1"}, "'openai/gpt-4o' is not one of the models given"),
        ("sim,sim", {"sim#3:seed": "1"}, "'sim#3' is not one of the models given (sim, sim#2)"),
    ],
)
def test_bad_model_lists_are_usage_errors(models, args, message) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model_specs(split_models(models), args)


# -- a study of two sim variants ---------------------------------------------------------------


def test_two_sim_variants_run_as_one_study_with_a_row_per_model(tmp_path, capsys) -> None:
    log_dir = tmp_path / "runs"
    code = main(
        [
            "run",
            "--suite",
            "advice",
            "--model",
            "sim,sim",
            "-M",
            "sim#2:seed=5",
            "-M",
            "sim#2:alignment=0",
            "--limit",
            "6",
            *FAST,
            "--log-dir",
            str(log_dir),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "sim is a seeded simulated subject, not a language model" in out
    study = only_study(log_dir)
    meta = read_study(study)
    assert [m["label"] for m in meta["models"]] == ["sim", "sim#2"]
    first, second = study_runs(study)
    with Run(first) as a, Run(second) as b:
        assert a.meta["status"] == b.meta["status"] == "complete"
        assert a.meta["study_id"] == b.meta["study_id"] == meta["study_id"]
        assert a.meta["run_id"] == f"{meta['study_id']}/sim"
        # One shared design: the same trials, different models.
        assert a.config["model_args"] == {}
        assert b.config["model_args"] == {"seed": "5", "alignment": "0"}
        assert {k: v for k, v in a.config.items() if k != "model_args"} == {
            k: v for k, v in b.config.items() if k != "model_args"
        }
        assert set(a.samples()["trial_id"]) == set(b.samples()["trial_id"])
        assert not a.samples()["text"].equals(b.samples()["text"])  # seed 5 answers differently
    # Every run of the study is listed, by its study-qualified id.
    ids = {info.run_id for info in list_runs(log_dir)}
    assert ids == {f"{meta['study_id']}/sim", f"{meta['study_id']}/sim-2"}

    capsys.readouterr()
    assert main(["analyze", str(study), "--json", "--no-bayes", "--bootstrap", "50"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    consistency = [r for r in rows if r["statistic"] == "consistency_rho"]
    assert sorted(r["model"] for r in consistency) == ["sim[alignment=0,seed=5]", "sim[seed=0]"]
    # The study id in the log directory works too, and the report has both models.
    report = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                meta["study_id"],
                "--log-dir",
                str(log_dir),
                "-o",
                str(report),
                "--no-bayes",
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    html = report.read_text()
    assert "sim[alignment=0,seed=5]" in html


def test_resuming_a_killed_study_loses_and_duplicates_no_sample(tmp_path, kill_mid_run) -> None:
    args = [
        "--suite",
        "advice",
        "--model",
        "sim,sim",
        "-M",
        "sim#2:seed=3",
        "--limit",
        "24",
        "--samples",
        "2",
        *FAST,
        "--no-cache",
    ]
    killed = tmp_path / "killed"
    kill_mid_run(args, killed, 600, probe="donation", stores="*/*/run.sqlite", timeout=90)
    study = only_study(killed)
    partial = [len(frame(run)) for run in study_runs(study)]
    expected = 24 * 23 * 2 + 2 + 24 * 23 * 2  # ordered pairs x 2 samples, twice, + 2 rankings
    assert 0 < sum(partial) < 2 * expected

    assert main(["run", "--resume", str(study), "--no-progress"]) == 0
    assert main(["run", *args, "--log-dir", str(tmp_path / "clean")]) == 0
    clean = only_study(tmp_path / "clean")
    for resumed_run, clean_run in zip(study_runs(study), study_runs(clean), strict=True):
        a, b = frame(resumed_run), frame(clean_run)
        assert len(a) == expected and a["trial_id"].is_unique
        assert a.drop(columns=["status", "error"]).equals(b.drop(columns=["status", "error"]))
        with Run(resumed_run) as run, Run(clean_run) as other:
            assert run.meta["status"] == "complete"
            attempts = run.records("attempt")
            assert not attempts.duplicated(["trial_id", "idx"]).any()
            assert len(attempts) == len(other.records("attempt"))
    # A finished study has nothing left to resume.
    assert main(["run", "--resume", str(study), "--no-progress"]) == 2


def test_a_model_whose_key_is_rejected_stops_alone(tmp_path, capsys) -> None:
    """A 401 ends that model's run at once (every later call would fail the same way); the
    other model of the study completes."""

    with _unauthorised_server() as server:
        code = main(
            [
                "run",
                "--suite",
                "elicitation",
                "--model",
                "sim,openai-compatible/revoked",
                "-M",
                f"openai-compatible/revoked:base_url={server.url}",
                "--limit",
                "8",
                *FAST,
                "--max-connections",
                "2",
                "--log-dir",
                str(tmp_path / "runs"),
            ]
        )
        calls_made = server.count
    assert code == 0
    out = capsys.readouterr().out
    assert "authentication failed" in out
    sim_run, revoked_run = study_runs(only_study(tmp_path / "runs"))
    with Run(sim_run) as ok, Run(revoked_run) as failed:
        assert ok.meta["status"] == "complete"
        assert len(ok.samples("pairwise")) == 8 * 7
        assert failed.meta["status"] == "failed"
        assert "authentication failed (HTTP 401)" in failed.meta["stop_reason"]
        # Stopped after the calls already in flight, not after all 56 pairwise trials.
        assert len(failed.samples()) == 0
    assert calls_made <= 2 * 2 + 2


class _unauthorised_server(LoopbackServer):
    """A loopback server that answers every request with HTTP 401 and counts them."""

    def __init__(self) -> None:
        outer = self
        self.count = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.count += 1
                payload = b'{"error": {"message": "Incorrect API key provided"}}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._serve(Handler)


def test_a_bad_model_in_a_study_refuses_it_before_anything_is_written(tmp_path, capsys) -> None:
    log_dir = tmp_path / "runs"
    code = main(["run", "--model", "sim,openai/gpt-4o", "--log-dir", str(log_dir), *FAST])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "OPENAI_API_KEY" in err
    assert not log_dir.exists() or not any(log_dir.iterdir())


def test_a_later_suite_takes_each_models_preferences_from_an_earlier_study(tmp_path, capsys):
    from harness.probes._preferences import preference_scores
    from harness.store import RunStore

    boolq = Path(__file__).resolve().parents[2] / "shared" / "data" / "boolq" / "validation.jsonl"
    if not boolq.is_file():
        pytest.skip("the shared BoolQ file is not beside the repository")
    log_dir = tmp_path / "runs"
    common = ["--model", "sim,sim", "-M", "sim#2:seed=3", "--log-dir", str(log_dir), *FAST]
    assert main(["run", "--suite", "elicitation", "--limit", "8", *common]) == 0
    elicited = only_study(log_dir)
    scores = []
    for directory in study_runs(elicited):
        store = RunStore.open(directory)
        try:
            scores.append(preference_scores(store))
        finally:
            store.close()
    args = ["--suite", "boolq", "--boolq-path", str(boolq), "--limit", "4", "--top-k", "2"]
    assert main(["run", *args, "--preferences", str(elicited), *common]) == 0
    later = [d for d in log_dir.iterdir() if d != elicited and (d / "study.json").is_file()]
    (study,) = later
    for directory, expected in zip(study_runs(study), scores, strict=True):
        with Run(directory) as run:
            rows = run.samples("boolq")
            assert "pairwise" not in set(run.samples()["probe"])  # nothing elicited again
        rows = rows[rows["entity"].notna()]
        top = set(expected.sort_values().index[-2:])
        assert set(rows.loc[rows["group"] == "top", "entity"]) == top
        got = rows.drop_duplicates("entity").set_index("entity")["preference"]
        assert got.to_dict() == pytest.approx(expected[got.index].to_dict())
    # A model the study does not have is refused in one line.
    capsys.readouterr()
    bad = ["--model", "sim", "-M", "seed=9", "--log-dir", str(log_dir), *FAST]
    assert main(["run", *args, "--preferences", str(elicited), *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "has no run of sim[seed=9] (it has sim[seed=0], sim[seed=3])" in err
    assert len([d for d in log_dir.iterdir()]) == 2  # nothing was written for it
