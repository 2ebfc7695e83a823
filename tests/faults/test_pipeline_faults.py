"""The whole pipeline (feeds growing on 127.0.0.1 -> produce -> process -> sink, alerts -> notify -> an
HTTP receiver) under one fault at a time: the producer killed mid-poll, the search server down 60 s, the
broker restarted, the receiver down, slower than apprise's default timeout, and flapping. Each asserts
that every article, statement and event owed (computed offline through the same parsing, extraction and
rules) is indexed exactly once and every owed alert delivered at least once, and reports one row of the
fault table (duplicate deliveries counted; the target is none)."""

from __future__ import annotations

import json
import time

import pytest

from newsmon.streams import RAW
from tests.faults.pipeline import Flapper, GrowingFeeds, Pipeline, check
from tests.faults.verifiable import Killer, report, wait_for
from tests.receivers import Receiver
from tests.support import topic_records

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(900)]

N_ARTICLES = 16
RATE_PER_S = 0.5  # new items a second over the four feeds: the corpus grows for ~30 s


def make_pipeline(stack_settings, tmp_path, web, delay_s: float = 0.0, **settings) -> Pipeline:
    receiver = Receiver(web, "/desk", delay_s=delay_s)
    pipeline = Pipeline(stack_settings.model_copy(update=settings), GrowingFeeds(web, N_ARTICLES, RATE_PER_S),
                        receiver, tmp_path / "run")
    pipeline.prepare()
    return pipeline


def published(pipeline: Pipeline) -> tuple[set[str], int]:
    """The raw ids the broker holds (acknowledged to the producer) and how many records beyond one per id."""
    values = [json.loads(r.value)["id"] for r in topic_records(pipeline.settings, RAW)]
    return set(values), len(values) - len(set(values))


def finish(scenario: str, pipeline: Pipeline, since: float, max_duplicate_deliveries: int = 0, **extra) -> dict:
    figures = pipeline.settle(since)
    raw, republished = published(pipeline)
    figures["published"] = len(raw)
    report(scenario, **{k: figures[k] for k in ("published", "indexed", "missing", "duplicated", "alerts_expected",
                                                "delivered", "duplicate_deliveries", "convergence_s")},
           statements=figures["statements"], events=figures["events"], raw_republished=republished,
           restarted=",".join(figures["restarted"]) or "-", **extra)
    check(figures, pipeline, max_duplicate_deliveries)
    assert raw == pipeline.owed.raw, "every feed item published (nothing lost by a fault)"
    return figures


def test_producer_killed_mid_poll(stack_settings, tmp_path, web):
    pipeline = make_pipeline(stack_settings, tmp_path, web)
    try:
        for name in ("process", "sink", "notify"):
            pipeline.start(name)
        pipeline.feeds.start()
        killer = Killer(lambda: pipeline.start("produce"), interval_s=(2.0, 6.0), max_kills=6)
        killer.run_while(lambda: not pipeline.feeds.all_released())
        ended = time.monotonic()
        finish("producer SIGKILL mid-poll", pipeline, ended, kills=killer.kills)
        assert killer.kills >= 4
    finally:
        pipeline.stop()


def test_search_server_down_60s(stack_settings, search, tmp_path, web):
    if getattr(search, "proc", None) is None:
        pytest.skip("the search server runs outside this test session: it cannot be stopped")
    pipeline = make_pipeline(stack_settings, tmp_path, web)
    try:
        pipeline.start_all()
        time.sleep(15)  # the stages are at work
        search.kill()  # SIGKILL: its data stays on disk
        down_at = time.monotonic()
        while time.monotonic() - down_at < 60:
            pipeline.restart_dead()
            time.sleep(1)
        search.start()
        finish("search server down 60 s", pipeline, time.monotonic(), down_s=round(time.monotonic() - down_at))
    finally:
        if search.proc is None or search.proc.poll() is not None:
            search.start()
        pipeline.stop()


def test_broker_restarted(stack_settings, broker, tmp_path, web):
    if getattr(broker, "proc", None) is None:
        pytest.skip("the broker runs outside this test session: it cannot be restarted")
    pipeline = make_pipeline(stack_settings, tmp_path, web)
    try:
        pipeline.start_all()
        time.sleep(20)
        broker.stop()  # SIGTERM: a clean shutdown, then the same log directory and ports again
        stopped_at = time.monotonic()
        broker.start()
        back = time.monotonic()
        finish("broker restarted", pipeline, back, down_s=round(back - stopped_at, 1))
    finally:
        if broker.proc is None or broker.proc.poll() is not None:
            broker.start()
        pipeline.stop()


def test_receiver_down_60s(stack_settings, tmp_path, web):
    pipeline = make_pipeline(stack_settings, tmp_path, web)
    try:
        pipeline.receiver.down = True
        pipeline.start_all()
        # down for 60 s from the first delivery it refuses (the first alerts come once articles are extracted)
        assert wait_for(lambda: pipeline.receiver.refused > 0, 420), pipeline.log_tail()
        time.sleep(60)
        pipeline.receiver.down = False
        finish("receiver down 60 s", pipeline, time.monotonic(), refused=pipeline.receiver.refused)
    finally:
        pipeline.stop()


def test_receiver_slower_than_the_client_default(stack_settings, tmp_path, web):
    """6 s per answer: longer than apprise's default read timeout (4 s), within the notifier's own
    per-attempt timeout, so each alert is sent once."""
    pipeline = make_pipeline(stack_settings, tmp_path, web, delay_s=6.0)
    try:
        pipeline.start_all()
        finish("receiver slow (6 s an answer)", pipeline, time.monotonic())
    finally:
        pipeline.stop()


def test_receiver_flapping(stack_settings, tmp_path, web):
    pipeline = make_pipeline(stack_settings, tmp_path, web)
    flapper = Flapper(pipeline.receiver, period_s=3.0)
    try:
        pipeline.start_all()
        flapper.start()
        # flapping until every owed alert got through (each attempt meets the receiver up or down)
        wait_for(lambda: pipeline.feeds.all_released() and set(pipeline.receiver.keys) >= pipeline.owed.alerts, 420)
        flapper.halt.set()
        flapper.join()
        finish("receiver flapping (3 s down / 3 s up)", pipeline, time.monotonic(), flips=flapper.flips,
               refused=pipeline.receiver.refused)
    finally:
        flapper.halt.set()
        pipeline.stop()

