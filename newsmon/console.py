"""The rich consoles that command output goes through.

On a terminal rich fits the output to its width. Piped (`newsmon search ... | less`, into a file) rich
would assume 80 columns and wrap every table row; there output is as wide as its content instead
(`COLUMNS` still wins when set).
"""

from __future__ import annotations

import os

from rich.console import Console

PIPED_WIDTH = 10_000  # wide enough that no row of a table or a log line wraps


def console(*, stderr: bool = False) -> Console:
    """A console for command output: the terminal's width, or unwrapped when piped."""
    out = Console(stderr=stderr)
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = PIPED_WIDTH
    return out
