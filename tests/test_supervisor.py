"""`newsmon up` supervises its stages: a failing stage is restarted with backoff, a permanent failure stops
`up` with one line, the states are recorded for `newsmon status`; the demo polls only its own feed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from newsmon import supervisor
from newsmon.settings import ConfigurationError, Settings
from newsmon.stack import Stack
from newsmon.supervisor import Board, StageFailed, read_board, restart_delay
from tests.test_cli import REPO, clean_env, newsmon


def test_restart_delay_doubles_and_is_capped():
    delays = [restart_delay(n) for n in range(1, 12)]
    assert delays[:4] == [supervisor.RESTART_BASE_S * f for f in (1, 2, 4, 8)]
    assert max(delays) == supervisor.RESTART_MAX_S
    assert delays == sorted(delays)


def test_the_board_counts_failures_in_a_row_and_starts_afresh_after_a_long_run(tmp_path, monkeypatch):
    board = Board(tmp_path, ["sink"])
    board.started("sink")
    assert [board.failed("sink", "boom") for _ in range(3)] == [restart_delay(1), restart_delay(2), restart_delay(3)]
    assert board.stages["sink"].state == "restarting" and board.stages["sink"].restarts == 3
    board.started("sink")
    board.stages["sink"].started -= supervisor.HEALTHY_AFTER_S  # it ran long enough before failing again
    assert board.failed("sink", "boom") == restart_delay(1)
    assert board.failed("sink", "no such file", permanent=True) == 0.0
    recorded = read_board(tmp_path)
    assert recorded["live"] is True and recorded["pid"] == os.getpid()
    assert recorded["stages"]["sink"]["state"] == "failed"
    assert recorded["stages"]["sink"]["last_error"] == "no such file"


def test_a_board_left_by_a_dead_up_is_not_live(tmp_path):
    Board(tmp_path, ["producer"]).started("producer")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = tmp_path / supervisor.STATE_FILE
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {int(dead.stdout)}'))
    assert read_board(tmp_path)["live"] is False
    assert read_board(tmp_path / "elsewhere") is None


def bare_stack(tmp_path) -> Stack:
    """A Stack whose stages are the test's threads (no servers, no processor)."""
    return Stack(Settings(kafka_bootstrap_servers="127.0.0.1:1", elasticsearch_url="http://127.0.0.1:2",
                          data_dir=tmp_path), say=lambda line: None)


def test_a_stage_that_keeps_failing_is_restarted_with_growing_pauses(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(supervisor, "RESTART_BASE_S", 0.2)
    starts: list[float] = []

    def flaky() -> None:
        starts.append(time.monotonic())
        raise RuntimeError("broker gone")

    stack = bare_stack(tmp_path)
    stack._thread("flaky", flaky)
    waiter = threading.Thread(target=stack.wait)
    waiter.start()
    try:
        deadline = time.monotonic() + 20
        while len(starts) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stack.stop_event.set()
        waiter.join(10)
    assert len(starts) >= 5
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # pauses of 0.2, 0.4, 0.8, 1.6 s, seen through the supervision loop's half-second ticks
    assert gaps[0] >= 0.2 and gaps[3] >= 1.6 and gaps[3] >= gaps[0] + 1.0, gaps
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1  # the same error again is one line, not a traceback each time
    assert any("restarting it in" in r.getMessage() and "failures in a row" in r.getMessage() for r in caplog.records)
    state = read_board(tmp_path)["stages"]["flaky"]
    assert state["restarts"] >= 4 and state["last_error"] == "RuntimeError: broker gone"


def test_a_permanent_failure_stops_up_with_one_line(tmp_path, caplog):
    def misconfigured() -> None:
        raise ConfigurationError("rules file /x.yaml: no such file")

    stack = bare_stack(tmp_path)
    stack._thread("notifier", misconfigured)
    with pytest.raises(StageFailed, match=r"^notifier: rules file /x.yaml: no such file$"):
        stack.wait()
    assert not [r for r in caplog.records if r.exc_info]
    assert read_board(tmp_path)["stages"]["notifier"]["state"] == "failed"


def test_up_never_says_running_while_a_stage_is_down(tmp_path, monkeypatch):
    monkeypatch.setattr("newsmon.stack.SETTLE_S", 0.5)
    monkeypatch.setattr(supervisor, "RESTART_BASE_S", 30.0)
    said: list[str] = []
    stack = bare_stack(tmp_path)
    stack.say = said.append
    stop_after = threading.Timer(2.0, stack.stop_event.set)
    stop_after.start()
    stack._thread("down", lambda: (_ for _ in ()).throw(RuntimeError("down")))
    stack.wait()
    assert not any("running" in line for line in said)
    healthy = bare_stack(tmp_path / "healthy")
    healthy.say = said.append
    healthy._thread("up", healthy.stop_event.wait)
    threading.Timer(2.0, healthy.stop_event.set).start()
    healthy.wait()
    assert any(line.startswith("newsmon is running") for line in said)


def test_the_demo_polls_only_its_own_feed(tmp_path, monkeypatch):
    said: list[str] = []
    settings = Settings(data_dir=tmp_path)
    assert "feeds_file" not in settings.model_fields_set
    assert Stack(settings, demo=True, say=said.append).choose_feeds() == []
    assert "polling only the local demo feed" in said[0]
    assert len(Stack(settings, demo=False).choose_feeds()) > 1  # without --demo: the default list
    listed = tmp_path / "feeds.yaml"
    listed.write_text("feeds:\n  - name: mine\n    url: http://127.0.0.1:9/rss\n")
    monkeypatch.setenv("NEWSMON_FEEDS_FILE", str(listed))
    assert [f.name for f in Stack(Settings(data_dir=tmp_path), demo=True).choose_feeds()] == ["mine"]


def test_up_refuses_missing_seeds_bad_feeds_and_missing_rules_with_one_line(tmp_path):
    env = {**clean_env(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "ELASTICSEARCH_URL": "http://127.0.0.1:2"}
    code = ("import sys; from pathlib import Path; import newsmon.producers.demo as demo; "
            f"demo.SEEDS_DIR = Path({str(tmp_path / 'no-seeds')!r}); "
            "from newsmon.cli import app; sys.argv = ['newsmon', 'up', '--demo']; app()")
    missing = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith(f"seed articles not found in {tmp_path / 'no-seeds'}")
    assert "Traceback" not in missing.stderr and "running" not in missing.stdout

    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: x\n    url: ftp://example\n")
    result = newsmon("up", "--feeds", str(bad), env=env, timeout=60)
    assert result.returncode == 2 and "url must start with http:// or https://" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = newsmon("up", "--demo", "--rules", str(tmp_path / "none.yaml"), env=env, timeout=60)
    assert result.returncode == 2 and result.stderr.strip() == f"--rules {tmp_path / 'none.yaml'}: no such file"
