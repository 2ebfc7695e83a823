"""Configuration errors on the command line: one red line on stderr and exit code 2, never a traceback.

Covers settings that fail validation (`Settings`, e.g. a SASL protocol without a password) and
credentials the broker refuses (`newsmon.kafka.KafkaAuthError`). Neither message contains a secret.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def exit_on_config_errors(command: F) -> F:
    """Decorate a Typer command (below `@app.command()`): configuration errors end it with one line."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        import typer
        from pydantic import ValidationError

        from newsmon.kafka import KafkaAuthError
        from newsmon.settings import settings_error

        try:
            return command(*args, **kwargs)
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            message = settings_error(exc)
        except KafkaAuthError as exc:
            message = str(exc)
        typer.secho(message, fg="red", err=True)
        raise typer.Exit(2)

    return run  # type: ignore[return-value]
