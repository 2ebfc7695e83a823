"""The stages `newsmon up` runs: their states, restarts with backoff, and the state file `status` reads.

A stage that fails is started again after a pause that doubles with each failure in a row (from
`RESTART_BASE_S` up to `RESTART_MAX_S`), and starts afresh once it ran `HEALTHY_AFTER_S` before failing: a
broker that is down for an hour costs a few log lines, not a traceback every few seconds. A failure that
no restart can cure (a missing file, a bad setting: `is_permanent`) stops `up` with one line instead.

The states are written to `<data_dir>/stages.json` at every change, with the pid of `up`, so `newsmon
status` shows them from another terminal (and knows them stale once that pid is gone).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "stages.json"
RESTART_BASE_S = 5.0
RESTART_MAX_S = 300.0
HEALTHY_AFTER_S = 60.0
CONFIG_EXIT_CODE = 2  # a command's exit code for a configuration error (newsmon.clierrors)


class StageFailed(RuntimeError):
    """A stage failed for a reason a restart cannot cure; the message says which stage and why."""


def is_permanent(exc: BaseException) -> bool:
    """A failure only the operator can cure: restarting the stage would fail the same way."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from newsmon.kafka import KafkaAuthError
    from newsmon.settings import ConfigurationError

    return isinstance(exc, (ConfigurationError, KafkaAuthError, SettingsError, ValidationError, FileNotFoundError,
                            NotADirectoryError, PermissionError))


def describe_error(exc: BaseException) -> str:
    """One line for an exception: its type and first line (a configuration error: its message)."""
    from newsmon.clierrors import config_problem

    message = config_problem(exc) or f"{type(exc).__name__}: {exc}"
    return message.splitlines()[0] if message else type(exc).__name__


def restart_delay(failures: int) -> float:
    """Pause before the restart after `failures` failures in a row: doubling, capped."""
    return min(RESTART_MAX_S, RESTART_BASE_S * 2 ** max(failures - 1, 0))


@dataclass
class StageState:
    """One stage as `status` shows it."""

    state: str = "starting"  # starting, running, restarting, failed, stopped
    since: float = field(default_factory=time.time)
    started: float = field(default_factory=time.time)  # the current run's start (backoff resets after a long run)
    restarts: int = 0
    failures: int = 0  # in a row
    last_error: str | None = None
    next_try: float | None = None


class Board:
    """The states of `up`'s stages, written to `<data_dir>/stages.json` whenever one changes."""

    def __init__(self, data_dir: Path, names: list[str] | None = None):
        self.path = Path(data_dir) / STATE_FILE
        self.stages: dict[str, StageState] = {name: StageState() for name in names or []}

    def started(self, name: str) -> None:
        """The stage (re)started now."""
        stage = self.stages.setdefault(name, StageState())
        now = time.time()
        stage.state, stage.since, stage.started, stage.next_try = "running", now, now, None
        self.write()

    def failed(self, name: str, error: str, *, permanent: bool = False) -> float:
        """The stage stopped with `error`; returns the pause before its restart (0 when permanent)."""
        stage = self.stages.setdefault(name, StageState())
        now = time.time()
        stage.failures = 1 if now - stage.started >= HEALTHY_AFTER_S else stage.failures + 1
        stage.last_error, stage.since = error, now
        if permanent:
            stage.state, stage.next_try = "failed", None
            self.write()
            return 0.0
        delay = restart_delay(stage.failures)
        stage.state, stage.next_try = "restarting", now + delay
        stage.restarts += 1
        self.write()
        return delay

    def stopped(self) -> None:
        """`up` is stopping: every stage with it."""
        now = time.time()
        for stage in self.stages.values():
            if stage.state != "failed":
                stage.state, stage.since, stage.next_try = "stopped", now, None
        self.write()

    def all_running(self) -> bool:
        return bool(self.stages) and all(s.state == "running" for s in self.stages.values())

    def write(self) -> None:
        """Replace the state file atomically (a reader never sees half of it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"pid": os.getpid(), "updated": time.time(),
                                   "stages": {name: asdict(s) for name, s in self.stages.items()}}))
        tmp.replace(self.path)


def read_board(data_dir: Path) -> dict[str, Any] | None:
    """The stage states the last `up` on `data_dir` recorded, with `"live"`: whether that `up` still runs;
    None when no `up` ever ran there."""
    try:
        data = json.loads((Path(data_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    try:
        os.kill(int(pid), 0)
        data["live"] = True
    except ProcessLookupError:
        data["live"] = False
    except (PermissionError, TypeError, ValueError):
        data["live"] = isinstance(pid, int)
    return data
