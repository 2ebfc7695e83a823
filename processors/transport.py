"""Faust's Kafka transport with a configurable fetch wait.

Faust fixes the consumer's `fetch_max_wait_ms` at 1500. A broker that holds an idle fetch for the whole
wait (as the local Tansu stand-in does) then adds up to that much latency per hop; Apache Kafka answers
as soon as data arrives. This transport applies `Settings.fetch_max_wait_ms` instead. It is selected by
the `newsmon-kafka://` scheme of the app's `broker_consumer` URLs.
"""

from __future__ import annotations

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

SCHEME = "newsmon-kafka"
DEFAULT_FETCH_MAX_WAIT_MS = 1500


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS)
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
