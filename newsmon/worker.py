"""The processor worker (`newsmon process`): one Faust app with the processor agent and the alert agents.

The alert agents (novelty, rules) run in the processor's app rather than in a process of their own:
they read the statements (keyed by speaker) and events (keyed by type) the processor writes, and keep
their novelty state in changelog-backed tables that move with the partitions when workers are added.
"""

from __future__ import annotations

import logging

import faust

from newsmon.alerts import stream as alert_stream
from newsmon.health import serve_stage
from newsmon.logs import logging_config
from newsmon.processors import app as processor_app
from newsmon.settings import Settings
from newsmon.topics import ensure_topics


def create_app(settings: Settings) -> faust.App:
    """The processor's Faust app with the alert agents added (novelty always; rules when a rules file is set)."""
    app = processor_app.create_app(settings)
    alert_stream.register(app, settings)
    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Create the topics, then run a Faust worker for the processor app until it is stopped (SIGINT/SIGTERM)."""
    ensure_topics(settings)
    app = create_app(settings)
    serve_stage(settings, "process")  # a daemon thread: ends with the worker's process
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                          logging_config=logging_config(loglevel, settings.log_format))
    worker.spinner = None  # plain log lines, no terminal animation (it runs under `newsmon up` too)
    if logging.getLevelName(loglevel.upper()) != logging.DEBUG:  # service start/stop chatter only when debugging
        # (Faust's services log their start and stop under the module of each subclass: ours too)
        for name in ("mode", "faust", "aiokafka", "newsmon.processors.app", "newsmon.processors.recovery",
                     "newsmon.processors.transport"):
            logging.getLogger(name).setLevel(logging.WARNING)
    worker.execute_from_commandline()
