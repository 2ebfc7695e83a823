"""Faust's Kafka transport with a configurable fetch wait and no read-offset filter.

Faust fixes the consumer's `fetch_max_wait_ms` at 1500. A broker that holds an idle fetch for the whole
wait (as the local Tansu stand-in does) then adds up to that much latency per hop; Apache Kafka answers
as soon as data arrives. This transport applies `Settings.fetch_max_wait_ms` instead.

Faust also drops every fetched record whose offset is below the last offset it handed to a stream
(its "read offset"), meant to skip duplicates after a seek. Around a rebalance that filter loses
records: records prefetched under the old generation arrive after the seek to the committed offsets,
move the read offset forward, are then skipped by the stream as stale, and the re-fetched originals
fall below the read offset and are dropped ("DROPPED MESSAGE ROFF" in Faust's dev log). Seen on Apache
Kafka with two workers when one was killed (a raw article never processed; a statements partition
whose records were all dropped, so the worker stalled with lag). newsmon's outputs are idempotent
(stable ids, a repeat is a sighting of itself), so a record delivered twice costs a little work and a
dropped one costs an article: this transport turns the filter off (and with it Faust's gap filling,
which would mark offsets never seen as acknowledged). It is selected by the `newsmon-kafka://` scheme
of the app's `broker_consumer` URLs.
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


class _NoReadOffsets(dict):
    """Faust's per-partition read offsets, always answering "nothing read yet" to the fetch loop."""

    def __getitem__(self, tp):
        return None


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._read_offset = _NoReadOffsets()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
