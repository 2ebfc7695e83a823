"""Child processes of the local stack: started so they cannot outlive newsmon, stopped by process group.

A server that `newsmon up` starts must die with it even when `up` is killed with SIGKILL (no cleanup
code runs then). Each child gets the kernel's parent-death signal (`PR_SET_PDEATHSIG`, Linux), set
after any change of user (a credential change clears it), and its own process group so a stop reaches
every process it spawned. A pid file per server lets the next `up` find a survivor anyway (another OS,
a grandchild that escaped) and end it before reusing its data.
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

PR_SET_PDEATHSIG = 1

try:  # looked up once in the parent: the forked child must only call it
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _prctl = None


class ServerError(RuntimeError):
    """A local server could not be resolved, started or reached; the message says what to do."""


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` that ties the child's life to this process (and to the thread spawning it)."""
    return _die_with(os.getpid())


def _die_with(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the signal was armed
            os._exit(1)
    return preexec


def spawn(cmd: Sequence[str], *, log: Path, env: dict[str, str] | None = None, user: str | None = None,
          cwd: Path | None = None, pid_file: Path | None = None) -> subprocess.Popen:
    """Start `cmd` in its own process group, tied to this process's life, output appended to `log`.

    `user` runs it as that (unprivileged) account; `pid_file` records it for `end_survivor`.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    extra: dict = {}
    if user is not None:
        account = pwd.getpwnam(user)
        extra = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    with log.open("ab") as out:
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with(os.getpid()),
                                **extra)
    if pid_file is not None:
        pid_file.write_text(json.dumps({"pid": proc.pid, "cmd": list(cmd)[:3]}))
    return proc


def terminate(proc: subprocess.Popen | None, timeout: float = 30.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def end_survivor(pid_file: Path, marker: str, timeout: float = 30.0) -> int | None:
    """End a server left running by an earlier newsmon (recorded in `pid_file`); returns its pid, if any.

    Only a live process whose command line contains `marker` is touched, so a recycled pid is safe.
    """
    try:
        pid = int(json.loads(pid_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        pid_file.unlink(missing_ok=True)
        return None
    if marker not in cmdline:
        pid_file.unlink(missing_ok=True)
        return None
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        _signal_group(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid


PORT_RELEASE_S = 10.0  # how long a restart waits for its old port: a killed server's JVM may still hold it


def free_port(preferred: int | None = None, wait_s: float = PORT_RELEASE_S) -> int:
    """`preferred` when it is free on 127.0.0.1 (waiting up to `wait_s` for it), else any free port.

    A server restarted after it died must come back on its old port: the stages and the endpoints file
    know that address. The server's own process may still be going away when the restart begins."""
    deadline = time.monotonic() + wait_s
    while preferred:
        port = _bind(preferred)
        if port is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    else:
        port = None
    port = port or _bind(0)
    if port is None:  # pragma: no cover
        raise ServerError("no free TCP port on 127.0.0.1")
    return port


def _bind(candidate: int) -> int | None:
    with socket.socket() as s:
        # as servers do (the JVM sets it too): a port whose old connections linger in TIME_WAIT is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", candidate))
        except OSError:
            return None
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], *, proc: subprocess.Popen, name: str, log: Path,
               timeout: float) -> float:
    """Poll `check` until true; fail early if the process exits. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with code {proc.returncode} while starting; last lines of {log}:\n"
                              + tail(log))
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - any failure of the probe means "not yet"
            pass
        time.sleep(0.25)
    raise ServerError(f"{name} did not become ready within {timeout:.0f}s; last lines of {log}:\n" + tail(log))


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


PORT_TAKEN = ("BindException", "BindTransportException", "Address already in use")


class ManagedServer:
    """The life cycle the real servers share: `launch()` (subclass), wait until ready, stop, kill.

    A subclass (a dataclass) provides `proc`, `ready_after_s`, `_started`, `label`, `pid_file`, `log_path`
    and `_ready()`, the probe that says the server answers.
    """

    proc: subprocess.Popen | None
    ready_after_s: float | None
    _started: float

    if TYPE_CHECKING:  # what a subclass provides, as a field or a property (read here, never set)
        @property
        def label(self) -> str: ...

        @property
        def pid_file(self) -> Path: ...

        @property
        def log_path(self) -> Path: ...

    def launch(self):  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _ready(self) -> bool:  # pragma: no cover
        raise NotImplementedError

    def start(self, timeout: float = 180.0):
        return self.launch().wait_ready(timeout)

    def wait_ready(self, timeout: float = 180.0):
        assert self.proc is not None, "launch() first"
        wait_until(self._ready, proc=self.proc, name=self.label, log=self.log_path, timeout=timeout)
        self.ready_after_s = time.monotonic() - self._started
        return self

    def port_taken(self) -> bool:
        """Whether the last start failed because a port it chose was bound by someone else meanwhile."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(getattr(self, "_log_mark", 0))
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return False
        return any(marker in text for marker in PORT_TAKEN)

    def mark_log(self) -> None:
        """Remember where the log ends now, so `port_taken` reads only what the next start writes."""
        try:
            self._log_mark = self.log_path.stat().st_size
        except OSError:
            self._log_mark = 0

    def stop(self) -> None:
        terminate(self.proc, timeout=60)
        self.proc = None
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the server's process group (fault tests): its data stays on disk for the next `start`."""
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
