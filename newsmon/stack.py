"""`newsmon up`: every stage in one command, on the configured services or on local stand-ins.

The processor runs as a child process (`python -m newsmon process`, a Faust worker); the producer,
the sink and the notifier run as threads. Leaving the `with` block (Ctrl-C) stops them all, then
the local stand-ins, and removes the endpoints file.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from newsmon.endpoints import settings_env
from newsmon.localstack import (LocalBroker, LocalSearch, LocalStackError, clear_endpoints, read_endpoints,
                                write_endpoints)
from newsmon.settings import Settings
from newsmon.topics import ensure_topics

log = logging.getLogger(__name__)

RESTART_PAUSE_S = 5.0  # before restarting a stage that died
DEMO_RULES = Path(__file__).resolve().parent.parent / "alerts" / "rules.demo.yaml"


def spawn_processor(settings: Settings, loglevel: str = "info", **popen) -> subprocess.Popen:
    """Start `newsmon process` (a Faust worker) as a child process configured like `settings`."""
    env = {**os.environ, **settings_env(settings)}
    cmd = [sys.executable, "-m", "newsmon", "process", "--loglevel", loglevel]
    return subprocess.Popen(cmd, env=env, **popen)


def stop_processor(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """Stop a processor child cleanly (SIGTERM), killing it if it does not stop within `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Stack:
    """The running pipeline; use as a context manager."""

    def __init__(self, settings: Settings, *, demo: bool = False, loglevel: str = "info",
                 say: Callable[[str], None] = print, feeds: list | None = None):
        self.settings = settings
        self.demo = demo
        self.loglevel = loglevel
        self.say = say
        self.feeds = feeds
        self.stop_event = threading.Event()
        self.broker: LocalBroker | None = None
        self.search: LocalSearch | None = None
        self.processor: subprocess.Popen | None = None
        self.threads: dict[str, tuple[threading.Thread, Callable, tuple]] = {}
        self._demo_server = None

    # --- lifecycle ---

    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if self.feeds is None:
            self.feeds = self._load_feeds()  # a bad feed list stops `up` before anything starts
        if self.demo and not self.settings.rules_file:
            self.settings = self.settings.model_copy(update={"rules_file": DEMO_RULES})
            self.say(f"NEWSMON_RULES_FILE not set: demo rules from {DEMO_RULES} (alerts printed here)")
        if self.settings.rules_file:
            from alerts.rules import load_rules

            load_rules(self.settings.rules_file)  # a bad rules file stops `up` before anything starts
        self._start_services()
        from sinks.elasticsearch import ensure_templates

        ensure_topics(self.settings)
        ensure_templates(self.settings)
        self.start_processor()
        from sinks.consumer import run as run_sink

        self._thread("sink", run_sink, self.settings, self.stop_event)
        self._thread("producer", self._run_producer)
        if self.settings.rules_file:
            from alerts.notify import run as run_notifier

            self._thread("notifier", run_notifier, self.settings, self.stop_event)
        self.say("newsmon is running; Ctrl-C stops it. From another terminal: `newsmon status`, `newsmon search ...`")

    def _start_services(self) -> None:
        s = self.settings
        local = s.data_dir / "local"
        updates = {}
        running = read_endpoints(s.data_dir)
        if running and not (s.kafka_bootstrap_servers and s.elasticsearch_url):
            raise LocalStackError(f"a local stack is already running (pid {running.get('pid')}, endpoints in "
                                  f"{s.data_dir}): stop that `newsmon up` first, or run single stages against it")
        if not s.kafka_bootstrap_servers:
            self.broker = LocalBroker(local / "tansu").start()
            updates["kafka_bootstrap_servers"] = self.broker.bootstrap
            self.say(f"KAFKA_BOOTSTRAP_SERVERS not set: started a local Tansu broker at {self.broker.bootstrap} "
                     "(in-memory, for local use only)")
        if not s.elasticsearch_url:
            self.search = LocalSearch(local / "noida").start()
            updates["elasticsearch_url"] = self.search.url
            self.say(f"ELASTICSEARCH_URL not set: started a local noida-db Elasticsearch API at {self.search.url} "
                     f"(data in {local / 'noida'})")
        self.settings = s.model_copy(update=updates)
        if updates:
            path = write_endpoints(s.data_dir, self.settings.kafka_bootstrap_servers, self.settings.elasticsearch_url)
            self.say(f"endpoints recorded in {path}")

    def start_processor(self) -> subprocess.Popen:
        """Start (or restart) the Faust worker child process."""
        self.processor = spawn_processor(self.settings, self.loglevel)
        return self.processor

    def _run_producer(self) -> None:
        from producers.poller import run as run_poller

        feeds = list(self.feeds or [])
        if self.demo and self._demo_server is None:
            from producers.demo import serve_demo

            self._demo_server = serve_demo()
            self.say(f"demo feed of the seed articles at {self._demo_server.feed_url}")
        if self._demo_server is not None:
            feeds.append(self._demo_server.feed())
        run_poller(self.settings, feeds, self.stop_event)

    def _load_feeds(self) -> list:
        from producers.config import load_feeds

        return load_feeds(self.settings.feeds_file)

    def _thread(self, name: str, target, *args) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("%s stopped with an error", name)

        thread = threading.Thread(target=guarded, name=f"newsmon-{name}", daemon=True)
        thread.start()
        self.threads[name] = (thread, target, args)
        return thread

    def wait(self) -> None:
        """Block until Ctrl-C; restart a stage that died (after a pause)."""
        try:
            while not self.stop_event.is_set():
                if self.processor is not None and self.processor.poll() is not None:
                    log.error("processor exited with code %s; restarting it", self.processor.returncode)
                    self.stop_event.wait(RESTART_PAUSE_S)
                    self.start_processor()
                for name, (thread, target, args) in list(self.threads.items()):
                    if not thread.is_alive() and not self.stop_event.is_set():
                        log.error("%s stopped; restarting it in %.0fs", name, RESTART_PAUSE_S)
                        self.stop_event.wait(RESTART_PAUSE_S)
                        if not self.stop_event.is_set():
                            self._thread(name, target, *args)
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.say("stopping...")

    def stop(self) -> None:
        self.stop_event.set()
        if self.processor is not None:
            stop_processor(self.processor)
        for thread, _, _ in self.threads.values():
            thread.join(30)
        if self._demo_server is not None:
            self._demo_server.stop()
        if self.broker or self.search:
            clear_endpoints(self.settings.data_dir)
        for service in (self.broker, self.search):
            if service is not None:
                service.stop()
