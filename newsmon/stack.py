"""`newsmon up`: every stage in one command, on the configured services or on local servers.

Without configured endpoints it starts local servers: Apache Kafka and Elasticsearch (`apache`, the
default where Java and Maven are found) or the pip-installed stand-ins (`lite`). The processor runs as
a child process (`python -m newsmon process`, a Faust worker); the producer, the sink and the notifier
run as threads. Leaving the `with` block (Ctrl-C) stops them all, then the servers, and removes the
endpoints file. Every child dies with `up` even when `up` is killed outright (parent-death signal), and
the next `up` starts the servers again on the data they left on disk.
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
from typing import TYPE_CHECKING, Any

from newsmon.endpoints import ENDPOINTS_FILE, clear_endpoints, read_endpoints, settings_env, write_endpoints
from newsmon.servers import choose, describe, make_broker, make_search, start_all
from newsmon.servers.lite import LocalStackError
from newsmon.servers.process import ServerError, die_with_parent
from newsmon.settings import Settings, package_dir
from newsmon.supervisor import CONFIG_EXIT_CODE, Board, StageFailed, describe_error, is_permanent, restart_delay
from newsmon.topics import ensure_topics

if TYPE_CHECKING:
    from newsmon.producers.demo import DemoServer

log = logging.getLogger(__name__)

SETTLE_S = 5.0  # every stage alive this long after the start: `up` says it runs
DEMO_RULES = package_dir("newsmon.alerts") / "rules.demo.yaml"


def spawn_processor(settings: Settings, loglevel: str = "info", **popen) -> subprocess.Popen:
    """Start `newsmon process` (a Faust worker) as a child process configured like `settings`.
    It serves no metrics of its own: `up` serves them for every stage (its values reach `up` through
    PROMETHEUS_MULTIPROC_DIR in multiprocess mode)."""
    env = {**os.environ, **settings_env(settings)}
    env.pop("NEWSMON_METRICS_ADDRESS", None)
    cmd = [sys.executable, "-m", "newsmon", "process", "--loglevel", loglevel]
    return subprocess.Popen(cmd, env=env, preexec_fn=die_with_parent(), **popen)


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


def child_running(proc: subprocess.Popen | None) -> bool:
    """Whether a child process still runs, asked without reaping it. `/healthz` answers from its own
    thread, and `Popen.poll()` there says "still running" whenever the supervisor's loop is polling the
    same child at that moment (it only holds a lock), so a dead processor could be reported healthy."""
    if proc is None or proc.returncode is not None:
        return False
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:  # the supervisor reaped it in the meantime
        return False


class Stack:
    """The running pipeline; use as a context manager."""

    def __init__(self, settings: Settings, *, demo: bool = False, loglevel: str = "info",
                 say: Callable[[str], None] = print, feeds: list | None = None, stack: str = "auto"):
        """`feeds`: the feeds to poll (default: `NEWSMON_FEEDS_FILE`'s; with `demo`, none unless that
        variable is set: the demo touches nothing but itself)."""
        self.settings = settings
        self.stack = stack
        self.demo = demo
        self.loglevel = loglevel
        self.say = say
        self.feeds = feeds
        self.stop_event = threading.Event()
        self.broker = None  # a local server started here (newsmon.servers), None for a configured one
        self.search = None
        self.processor: subprocess.Popen | None = None
        self.threads: dict[str, tuple[threading.Thread, Callable, tuple]] = {}
        self._demo_server: DemoServer | None = None
        self.observability: Any = None  # /metrics and /healthz (newsmon.health), once the stages run
        self.board = Board(settings.data_dir)
        self._errors: dict[str, BaseException] = {}  # why a stage thread ended, read by `wait`
        self._restart_at: dict[str, float] = {}  # stages waiting for their restart (monotonic time)
        self._announced = False
        self._server_failures: dict[int, int] = {}

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
        """Check everything a stage would fail on for good (feeds, rules, demo seeds), then start the
        servers and the stages."""
        self.feeds = self.choose_feeds()  # a bad feed list stops `up` before anything starts
        if self.demo:
            from newsmon.producers.demo import serve_demo

            self._demo_server = serve_demo()  # missing seed articles stop `up` here, with one line
            self.say(f"demo feed of the seed articles at {self._demo_server.feed_url}")
        if self.demo and not self.settings.rules_file:
            self.settings = self.settings.model_copy(update={"rules_file": DEMO_RULES})
            self.say(f"NEWSMON_RULES_FILE not set: demo rules from {DEMO_RULES} (alerts printed here)")
        if self.settings.rules_file:
            from newsmon.alerts.rules import load_rules

            load_rules(self.settings.rules_file)  # a bad rules file stops `up` before anything starts
        self._start_services()
        from newsmon.indices import ensure_templates, stale_indices

        ensure_topics(self.settings)
        ensure_templates(self.settings)
        for index, fields in stale_indices(self.settings).items():
            self.say(f"{index} was made by an older newsmon: {', '.join(fields)} do not search as the template "
                     f"says (e.g. case-insensitively); stop newsmon and run `newsmon init --reindex` to rebuild it")
        self.start_processor()
        from newsmon.sinks.consumer import run as run_sink

        self._thread("sink", run_sink, self.settings, self.stop_event)
        self._thread("producer", self._run_producer)
        if self.settings.rules_file:
            from newsmon.alerts.notify import run as run_notifier

            self._thread("notifier", run_notifier, self.settings, self.stop_event)
        self._serve_observability()

    def health(self):
        """The checks of `/healthz`: every stage running, every server answering."""
        from newsmon.health import Health, server_checks, thread_check

        health = Health()
        health.add("processor", lambda: None if child_running(self.processor)
                   and "processor" not in self._restart_at else "not running")
        for name in self.threads:
            health.add(name, thread_check(lambda name=name: self.threads[name][0]))
        server_checks(health, self.settings)
        return health

    def _serve_observability(self) -> None:
        from newsmon import metrics
        from newsmon.health import ObservabilityServer
        from newsmon.status import topic_lag

        registry = metrics.registry()
        registry.register(metrics.LagCollector(lambda: topic_lag(self.settings)))
        try:
            self.observability = ObservabilityServer(self.settings.metrics_address, self.health(), registry).start()
        except OSError as exc:  # the address is taken: the pipeline runs on, unobserved
            log.error("cannot serve metrics on %s (%s); set NEWSMON_METRICS_ADDRESS", self.settings.metrics_address,
                      exc.strerror or exc)
            return
        self.say(f"metrics: http://{self.observability.address}/metrics, health: "
                 f"http://{self.observability.address}/healthz")

    def _start_services(self) -> None:
        s = self.settings
        if s.kafka_bootstrap_servers and s.elasticsearch_url:
            return
        running = read_endpoints(s.data_dir)
        if running:
            raise LocalStackError(f"a local stack is already running (pid {running.get('pid')}, endpoints in "
                                  f"{s.data_dir}): stop that `newsmon up` first, or run single stages against it")
        if (s.data_dir / ENDPOINTS_FILE).exists():
            self.say("the previous `newsmon up` ended without stopping (killed?): starting its servers again on "
                     "the data it left")
            clear_endpoints(s.data_dir)
        try:
            kind = choose(self.stack, self.say)
        except ServerError as exc:
            raise LocalStackError(str(exc)) from None
        local = s.data_dir / "local"
        if not s.kafka_bootstrap_servers:
            self.broker = make_broker(kind, local, self.say)
        if not s.elasticsearch_url:
            self.search = make_search(kind, local, self.say)
        if kind == "lite" and self.broker is not None:
            self._forget_seen(s)
        try:
            start_all(*(x for x in (self.broker, self.search) if x is not None))
        except ServerError as exc:
            raise LocalStackError(str(exc)) from None
        updates: dict[str, Any] = {}
        servers: dict[str, Any] = {}
        if self.broker is not None:
            updates["kafka_bootstrap_servers"] = self.broker.bootstrap
            servers["kafka"] = describe(self.broker)
            self.say(f"KAFKA_BOOTSTRAP_SERVERS not set: started {servers['kafka']}")
        if self.search is not None:
            updates["elasticsearch_url"] = self.search.url
            servers["elasticsearch"] = describe(self.search)
            self.say(f"ELASTICSEARCH_URL not set: started {servers['elasticsearch']}")
        self.settings = s.model_copy(update=updates)
        path = write_endpoints(s.data_dir, self.settings.kafka_bootstrap_servers, self.settings.elasticsearch_url,
                               stack=kind, servers=servers)
        self.say(f"endpoints recorded in {path}")

    def _forget_seen(self, settings: Settings) -> None:
        """The lite broker keeps records in memory only: a new one has none of the items the producer
        remembers publishing, so the producer must forget them and publish again (ids are stable)."""
        from newsmon.producers.seen import DB_NAME

        db = settings.data_dir / DB_NAME
        if db.exists():
            db.unlink()
            self.say("lite broker starts empty: the producer's seen-store was reset so no item is lost")

    def start_processor(self) -> subprocess.Popen:
        """Start (or restart) the Faust worker child process."""
        self.processor = spawn_processor(self.settings, self.loglevel)
        self.board.started("processor")
        return self.processor

    def _run_producer(self) -> None:
        from newsmon.producers.poller import run as run_poller

        feeds = list(self.feeds or [])
        settings = self.settings
        if self._demo_server is not None:
            feeds.append(self._demo_server.feed())
            settings = self._demo_server.settings(settings)  # the demo's pages are on loopback
        run_poller(settings, feeds, self.stop_event)

    def choose_feeds(self) -> list:
        """The feeds to poll besides the demo's: those given, else NEWSMON_FEEDS_FILE's; a demo without
        either polls none (it touches nothing but itself), a run without `--demo` the default list."""
        if self.feeds is not None:
            return self.feeds
        if self.demo and "feeds_file" not in self.settings.model_fields_set:
            self.say("demo: polling only the local demo feed (set NEWSMON_FEEDS_FILE or --feeds to poll real "
                     "feeds too)")
            return []
        from newsmon.producers.config import load_feeds

        return load_feeds(self.settings.feeds_file)

    def _thread(self, name: str, target, *args) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as exc:  # reported by `wait`, which restarts the stage or stops `up`
                self._errors[name] = exc
                if not is_permanent(exc) and self.board.stages[name].last_error != describe_error(exc):
                    log.exception("%s stopped with an error", name)  # the traceback once per distinct error

        self._errors.pop(name, None)
        self.board.started(name)
        thread = threading.Thread(target=guarded, name=f"newsmon-{name}", daemon=True)
        self.threads[name] = (thread, target, args)
        thread.start()
        return thread

    def wait(self) -> None:
        """Block until Ctrl-C. A stage that dies is restarted with backoff; one that failed for a reason a
        restart cannot cure stops `up` (`StageFailed`). Says "running" once every stage has settled."""
        started = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self._watch_servers()
                self._watch_processor()
                for name, (thread, _, _) in list(self.threads.items()):
                    if not thread.is_alive() and name not in self._restart_at and not self.stop_event.is_set():
                        error = self._errors.get(name)
                        self._failed(name, describe_error(error) if error else "stopped",
                                     error is not None and is_permanent(error))
                self._restart_due()
                if not self._announced and self.board.all_running() and time.monotonic() - started >= SETTLE_S:
                    self._announced = True
                    self.say("newsmon is running; Ctrl-C stops it. From another terminal: `newsmon status`, "
                             "`newsmon search ...`")
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.say("stopping...")

    def _watch_processor(self) -> None:
        if self.processor is None or self.processor.poll() is None or "processor" in self._restart_at:
            return
        from newsmon.metrics import process_died

        process_died(self.processor.pid)
        code = self.processor.returncode
        if code == CONFIG_EXIT_CODE:  # the child printed the one-line reason itself
            self._failed("processor", f"stopped with a configuration error (exit code {code}; its message is "
                                      "above)", True)
        self._failed("processor", f"exited with code {code}", False)

    def _failed(self, name: str, error: str, permanent: bool) -> None:
        """Record a stage's failure: stop `up` when it is permanent, else schedule its restart."""
        delay = self.board.failed(name, error, permanent=permanent)
        if permanent:
            raise StageFailed(f"{name}: {error}")
        failures = self.board.stages[name].failures
        log.error("%s: %s; restarting it in %.0fs%s", name, error, delay,
                  f" ({failures} failures in a row)" if failures > 1 else "")
        self._restart_at[name] = time.monotonic() + delay

    def _restart_due(self) -> None:
        now = time.monotonic()
        for name, at in list(self._restart_at.items()):
            if at > now or self.stop_event.is_set():
                continue
            del self._restart_at[name]
            if name == "processor":
                self.start_processor()
            else:
                _, target, args = self.threads[name]
                self._thread(name, target, *args)

    def _watch_servers(self) -> None:
        """A local server that died is logged at once and started again on its data."""
        for server in (self.broker, self.search):
            if server is None or server.proc is None or server.proc.poll() is None:
                continue
            log.error("%s died (exit code %s); restarting it", describe(server), server.proc.returncode)
            try:
                server.start()
                log.warning("%s is back", describe(server))
                self._server_failures.pop(id(server), None)
            except (ServerError, LocalStackError) as exc:
                failures = self._server_failures[id(server)] = self._server_failures.get(id(server), 0) + 1
                delay = restart_delay(failures)
                log.error("restarting it failed: %s; retrying in %.0fs", exc, delay)
                self.stop_event.wait(delay)

    def stop(self) -> None:
        self.stop_event.set()
        if self.board.stages:
            self.board.stopped()
        if self.observability is not None:
            self.observability.stop()
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
