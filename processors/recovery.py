"""Faust's table recovery, with the stream partitions resumed only while the flow is stopped.

After a rebalance Faust restores the tables from their changelogs with the flow running, then (in
`Recovery.on_recovery_completed`) resumes the stream partitions, seeks them to their committed offsets
and resumes the flow, which also empties every stream's queue. The flow is still running from the
changelog phase while the seek is awaited, so the fetcher already hands stream records (the raw articles)
to the agents; those still queued when the flow is resumed are thrown away, and the seek that would have
fetched them again has already happened. Seen on Apache Kafka: a worker started after another was
SIGKILLed lost the records right behind its first batch (its commits then passed over them).

`Recovery` stops the flow first, so nothing of the stream partitions is fetched before the seek; Faust's
own code then seeks, resumes the flow and the fetcher as before. Selected through the app's
`TableManager` setting (`newsmon.processors.app`).
"""

from __future__ import annotations

from faust.tables.manager import TableManager as FaustTableManager
from faust.tables.recovery import Recovery as FaustRecovery


class Recovery(FaustRecovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Stop the flow, then let Faust resume the stream partitions, seek, and resume the flow."""
        self.app.consumer.stop_flow()
        self.app.flow_control.suspend()
        await super().on_recovery_completed(generation_id)


class TableManager(FaustTableManager):
    @property
    def recovery(self) -> FaustRecovery:
        if self._recovery is None:
            self._recovery = Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
