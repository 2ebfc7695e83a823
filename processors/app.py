"""The Faust app of the processor stage (the worker that runs it, with the alert agents: `newsmon.worker`)."""

from __future__ import annotations

import logging

import faust

from newsmon.kafka import faust_credentials
from newsmon.settings import Settings
from newsmon.processors import agents, recovery, transport

log = logging.getLogger(__name__)


def app_id(settings: Settings) -> str:
    """The Faust app id, also its consumer group: one per topic prefix (run more workers to scale out)."""
    return f"{settings.topic_prefix}-processor"


class ProcessorApp(faust.App):
    """A Faust app that carries the consumer's fetch wait for `transport` (Faust has no setting for it)."""

    fetch_max_wait_ms: int = transport.DEFAULT_FETCH_MAX_WAIT_MS


def create_app(settings: Settings) -> ProcessorApp:
    """A Faust app over the configured broker with the processor agent.

    Topics are not declared by Faust: `newsmon.topics.ensure_topics` creates them with the configured
    partition count before the worker starts (see `newsmon.worker.run_worker`).
    """
    if not settings.kafka_bootstrap_servers:
        raise ValueError("no Kafka bootstrap servers configured (KAFKA_BOOTSTRAP_SERVERS)")
    name = app_id(settings)
    datadir = settings.data_dir / "faust" / name
    datadir.mkdir(parents=True, exist_ok=True)
    hosts = [host.strip() for host in settings.kafka_bootstrap_servers.split(",")]
    app = ProcessorApp(
        name,
        broker=[f"kafka://{host}" for host in hosts],
        broker_consumer=[f"{transport.SCHEME}://{host}" for host in hosts],
        broker_credentials=faust_credentials(settings),  # SASL / TLS, as for the kafka-python clients
        broker_rebalance_timeout=settings.broker_rebalance_timeout_s,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=1.0,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=False,
        topic_disable_leader=True,
        producer_acks=-1,
        # a refused send fails after this long (Faust's default waits 20 minutes without a word) and is
        # re-sent by the agent with a log line per retry (newsmon.outputs), then halts unacknowledged
        producer_request_timeout=settings.output_request_timeout_s,
        consumer_auto_offset_reset="earliest",
        datadir=str(datadir),
        store="memory://",
        TableManager=recovery.TableManager,  # the flow stopped while stream partitions are resumed and sought
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    agents.register(app, settings)
    return app
