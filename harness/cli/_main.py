"""Entry point and error handling: user errors print one line and exit non-zero, never a traceback."""

from __future__ import annotations

import sys

import click
from dotenv import load_dotenv

from harness.cli._commands import cli
from harness.errors import HarnessError


def main(argv: list[str] | None = None) -> int:
    # Options fall back to HARNESS_* variables; a .env in the working directory may set them
    # (and API keys). Variables already set in the environment win.
    load_dotenv(dotenv_path=".env", override=False)
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("harness: aborted", err=True)
        return 130
    except click.exceptions.ClickException as error:
        click.echo(f"harness: error: {error.format_message()}", err=True)
        return error.exit_code
    except HarnessError as error:
        click.echo(f"harness: error: {error}", err=True)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


def entry() -> None:
    sys.exit(main())
