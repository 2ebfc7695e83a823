"""Logging of every newsmon command, set up here only: plain text lines, or ECS JSON lines
(`NEWSMON_LOG_FORMAT=json`, ecs-logging) for Filebeat / Elastic Agent to ship without parsing.

The Faust worker configures logging itself; it is handed the same configuration (`logging_config`).
"""

from __future__ import annotations

import faulthandler
import logging
import logging.config
import signal
import threading
from typing import Any

from newsmon.secrets import redact

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
NOISY = ("kafka", "elastic_transport", "httpx", "httpcore", "aiokafka", "trafilatura", "htmldate", "courlan")  # their info lines drown ours


class RedactSecrets(logging.Filter):
    """Masks URL credentials in every line (`newsmon.secrets.redact`): a message or an exception that quotes
    `ELASTICSEARCH_URL`, a broker or a feed URL with `user:password@` or `?token=` shows `****` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class ClosedSocketRace(logging.Filter):
    """Drops kafka-python's traceback for a read on a socket it has just closed itself (its transport's
    socket is already None: seen as an ERROR with an AttributeError when a client closes on Ctrl-C). It
    is not a fault; every other error of the client still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (record.name == "kafka.net.transport" and isinstance(exc, AttributeError)
                    and "'NoneType' object" in str(exc))


class ServiceFields(logging.Filter):
    """Adds `service.name` to each record (ECS: which service wrote the line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        setattr(record, "service.name", "newsmon")
        return True


def logging_config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration: one stderr handler, text or ECS JSON."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r}: use text or json")
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"log level {level!r}: use debug, info, warning or error")
    formatter = {"()": "ecs_logging.StdlibFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"service": {"()": ServiceFields}, "redact": {"()": RedactSecrets},
                    "closed_socket": {"()": ClosedSocketRace}},
        "formatters": {"newsmon": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "newsmon", "filters": ["closed_socket", "redact", "service"]}},
        "root": {"level": number, "handlers": ["stderr"]},
        "loggers": {**{name: {"level": max(logging.WARNING, number)} for name in NOISY},
                    # kafka-python warns of every coordinator move while a group forms (a dozen lines at
                    # each start); newsmon reports an unreachable broker itself
                    "kafka": {"level": number if number <= logging.DEBUG else logging.ERROR}},
    }


def setup_logging(level: str = "info", fmt: str | None = None) -> None:
    """Configure the root logger (`fmt` None: from the settings, `NEWSMON_LOG_FORMAT`)."""
    if fmt is None:
        from newsmon.settings import get_settings

        fmt = get_settings().log_format
    logging.config.dictConfig(logging_config(level, fmt))
    dump_threads_on_signal()


def dump_threads_on_signal() -> None:
    """`kill -USR1 <pid>` writes the stack of every thread to stderr and the stage runs on: how to see
    where a stage that has gone quiet is waiting. (The Faust worker's own SIGUSR1 handler, set later,
    takes precedence there: it lists the asyncio tasks too.)"""
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        faulthandler.register(signal.SIGUSR1, all_threads=True)
