"""Topic names and explicit topic creation (auto-created topics get the broker's partition count)."""

from __future__ import annotations

import time

from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from newsmon.kafka import make_admin
from newsmon.settings import Settings
from newsmon.streams import topic_names


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the topics with the configured partition count; existing ones are left as they are."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = make_admin(settings, client_id="newsmon-admin", request_timeout_ms=10_000)
            break
        except KafkaError:  # not up yet; refused credentials raise KafkaAuthError at once (no retry)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(name, settings.partitions, settings.replication_factor)
                  for name in topic_names(settings) if name not in existing]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
        return topic_names(settings)
    finally:
        admin.close()
