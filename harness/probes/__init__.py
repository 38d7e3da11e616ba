"""Probes: each turns a run into trials and a trial into model calls and a result row."""

from harness.probes import donation as _donation  # noqa: F401 - registers probes
from harness.probes import elicitation as _elicitation  # noqa: F401
from harness.probes._base import (
    CallProfile,
    PreviewCall,
    Probe,
    ProbeFailure,
    RunContext,
    Trial,
    TrialContext,
    create_probe,
    make_trial,
    probe,
    probe_names,
)

__all__ = [
    "CallProfile",
    "PreviewCall",
    "Probe",
    "ProbeFailure",
    "RunContext",
    "Trial",
    "TrialContext",
    "create_probe",
    "make_trial",
    "probe",
    "probe_names",
]
from harness.probes import agentic as _agentic  # noqa: F401 - registers the agentic probe
from harness.probes import boolq as _boolq  # noqa: F401 - registers the boolq probe
