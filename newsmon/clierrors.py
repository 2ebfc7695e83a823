"""Configuration errors on the command line: one red line on stderr and exit code 2, never a traceback.

Covers settings that fail validation (`Settings`: the line names the variable, its value and what is
expected), problems only the operator can fix (`ConfigurationError`: a missing file, a bad rule or feed
list) and credentials the broker refuses (`newsmon.kafka.KafkaAuthError`). No message contains a secret.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NoReturn, TypeVar

F = TypeVar("F", bound=Callable)


def config_problem(exc: BaseException) -> str | None:
    """The one-line message for a configuration error, None for any other exception."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from newsmon.kafka import KafkaAuthError
    from newsmon.settings import ConfigurationError, settings_error

    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return settings_error(exc)
    if isinstance(exc, SettingsError):  # a value pydantic-settings could not even decode
        return f"invalid configuration: {exc}"
    if isinstance(exc, (ConfigurationError, KafkaAuthError)):
        return str(exc)
    return None


def refuse(message: str) -> NoReturn:
    """Print `message` as one red line on stderr and exit with code 2."""
    import typer

    typer.secho(message, fg="red", err=True)
    raise typer.Exit(2)


def check_settings() -> None:
    """Read and validate every setting now (each command calls this first): a bad one stops the command
    before it does anything, with one line."""
    from newsmon.settings import get_settings

    try:
        get_settings()
    except Exception as exc:
        message = config_problem(exc)
        if message is None:
            raise
        refuse(message)


def exit_on_config_errors(command: F) -> F:
    """Decorate a Typer command (below `@app.command()`): configuration errors end it with one line."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            message = config_problem(exc)
            if message is None:
                raise
        refuse(message)

    return run  # type: ignore[return-value]
