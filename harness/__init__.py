"""Harness: measure whether a model's stated entity preferences predict its behaviour.

Kept deliberately small: importing :mod:`harness.model` must not pull in the CLI,
the runner or Docker.
"""

__version__ = "0.1.0"
