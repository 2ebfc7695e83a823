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

Without that filter, Faust's commit rule would let a lost record pass unnoticed: it commits the acknowledged
offsets as soon as the first of them is at most one above the committed offset, so one record handed to
a stream and then lost (e.g. thrown away with a stream's queue around a rebalance) was committed over.
This consumer commits an offset only when every record below it that was handed to a stream has been
acknowledged; a record that never comes back holds its partition's commits (visible as lag) instead of
being skipped. A seek to the committed offsets starts the bookkeeping afresh, and a partition with no
committed offset is read again from its beginning (the broker's reset policy, also after records of it
were fetched).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

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
        self._handed: defaultdict[TP, deque[int]] = defaultdict(deque)  # offsets given to streams, ascending

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        handed = self._handed
        async for tp, message in super().getmany(timeout):
            handed[tp].append(message.offset)
            yield tp, message

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for `tp`: one past the acknowledged offsets below the first record handed
        to a stream and not acknowledged yet (None: nothing new to commit)."""
        acked, index, handed = self._acked[tp], self._acked_index[tp], self._handed[tp]
        while handed and handed[0] in index:
            handed.popleft()
        limit = handed[0] if handed else None
        if not acked:
            return None
        acked.sort()
        done = [offset for offset in acked if limit is None or offset < limit]
        if not done:
            return None
        del acked[:len(done)]
        index.difference_update(done)
        return done[-1] + 1

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every partition to its committed offset, and those with none (or 0) to their beginning."""
        committed = await super().seek_to_committed()
        fresh = [tp for tp, offset in committed.items() if not offset and not self._is_changelog_tp(tp)]
        if fresh:
            await self._thread.seek_to_beginning(*fresh)
        for tp in committed:
            self._forget(tp)
        return committed

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self._forget(partition)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._handed.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _forget(self, tp: TP) -> None:
        """After a seek every record from there on is handed to the streams again: start afresh."""
        self._handed.pop(tp, None)
        self._acked.pop(tp, None)
        self._acked_index.pop(tp, None)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
