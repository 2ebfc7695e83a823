"""Dead letters, written once: the reason, the original payload and its position, and a limit.

A record a stage cannot handle is kept on the dead-letter topic instead of stopping the stream; but a
stage that dead-letters most of what it reads (a bad deploy, a changed schema) would drain the whole
stream into dead letters. `DeadLetterLimit` watches the share over a sliding window of records and stops
the stage with a clear error once it is above the limit; the records of that batch are not committed,
so they are read again once the stage is fixed.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any

from newsmon.records import DeadLetter
from newsmon.settings import Settings
from newsmon.streams import DEAD_LETTER

__all__ = ["dead_letter_limit", "DeadLetterLimit", "DeadLetterLimitExceeded", "DeadLetterWriter", "from_record", "decode_payload"]

log = logging.getLogger(__name__)


class DeadLetterLimitExceeded(RuntimeError):
    """More than the allowed share of a window of records was dead-lettered: the stage stops."""


def decode_payload(value: bytes | str | None) -> Any:
    """The payload as kept in a dead letter: decoded JSON when it is JSON, else the text."""
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    try:
        return json.loads(text)
    except ValueError:
        return text


def from_record(stage: str, record: Any, error: BaseException | str, error_type: str | None = None) -> DeadLetter:
    """A dead letter for a Kafka record (kafka-python `ConsumerRecord` or anything with topic, partition,
    offset, key, value), failed with `error`."""
    key = record.key
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    reason = error if isinstance(error, str) else (str(error) or repr(error))
    kind = error_type if error_type is not None else ("" if isinstance(error, str) else type(error).__name__)
    return DeadLetter(stage=stage, error=reason, error_type=kind, payload=decode_payload(record.value),
                      topic=record.topic, partition=record.partition, offset=record.offset, key=key)


class DeadLetterLimit:
    """The share of dead-lettered records over the last `window` records must stay at or below `max_share`.

    Judged only once a full window was seen, so one bad record among the first few does not stop a stage.
    """

    def __init__(self, stage: str, max_share: float = 0.5, window: int = 100):
        if not 0 < max_share <= 1 or window < 1:
            raise ValueError("max_share must be in (0, 1] and window at least 1")
        self.stage, self.max_share, self.window = stage, max_share, window
        self._outcomes: deque[bool] = deque(maxlen=window)

    def observe(self, good: int, dead: int) -> None:
        """Count a batch's outcomes; raises `DeadLetterLimitExceeded` when the window is over the limit."""
        self._outcomes.extend([False] * good + [True] * dead)
        if len(self._outcomes) < self.window:
            return
        share = sum(self._outcomes) / len(self._outcomes)
        if share > self.max_share:
            raise DeadLetterLimitExceeded(
                f"{self.stage}: {share:.0%} of the last {len(self._outcomes)} records were dead-lettered "
                f"(limit {self.max_share:.0%}); stopping instead of draining the stream. The records are not "
                f"committed: fix the cause (see the dead-letter topic for the reasons) and start the stage again")


class DeadLetterWriter:
    """Sends dead letters to the dead-letter topic and waits for the broker's acknowledgement (before the
    caller commits its offsets), never looping a dead letter of the dead-letter topic back into it."""

    def __init__(self, producer: Any, topic: str, limit: DeadLetterLimit | None = None):
        self.producer, self.topic, self.limit = producer, topic, limit

    def write(self, letters: list[DeadLetter], *, good: int = 0, timeout_s: float = 60.0) -> int:
        """Send `letters` (acknowledged on return); `good` records of the same batch count for the limit.
        Returns how many were sent."""
        futures = []
        for letter in letters:
            if letter.topic == self.topic:  # a dead letter that itself failed: logged, never looped
                log.error("%s: dead letter at %s[%s]@%s dropped from the loop: %s", letter.stage, letter.topic,
                          letter.partition, letter.offset, letter.error)
                continue
            log.error("%s: dead-letter %s at %s[%s]@%s: %s", letter.stage, letter.key, letter.topic,
                      letter.partition, letter.offset, letter.error)
            futures.append(self.producer.send(self.topic, **DEAD_LETTER.message(letter)))
        for future in futures:
            future.get(timeout=timeout_s)
        if self.limit is not None:
            self.limit.observe(good, len(letters))
        return len(futures)


def dead_letter_limit(settings: Settings, stage: str) -> DeadLetterLimit:
    """The configured limit (`NEWSMON_DEAD_LETTER_MAX_SHARE` over `NEWSMON_DEAD_LETTER_WINDOW` records)."""
    return DeadLetterLimit(stage, settings.dead_letter_max_share, settings.dead_letter_window)
