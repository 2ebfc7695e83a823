"""Monthly index partitions: upserts by stable id stay in the partition of the document's own month (no
duplicate across a month boundary, whatever the order of writes), search reads the alias, and `prune`
drops whole expired months on the real local Elasticsearch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from newsmon.alerts.message import make_alert
from newsmon.records import Alert, Sighting, Statement
from newsmon.retention import (expired, has_lifecycle, lifecycle_policy, parse_period, partitions, prune,
                               retention_summary)
from newsmon.settings import Settings
from newsmon.streams import SIGHTINGS, STATEMENTS
from newsmon.indices import LegacyIndexError, ensure_templates, index_for, make_client
from newsmon.search import search
from newsmon.sinks.elasticsearch import alert_action, bulk_index, record_actions
from tests.test_sink import statement

NOV = datetime(2016, 11, 30, 23, 30, tzinfo=timezone.utc)  # half an hour before the month boundary
DEC = datetime(2016, 12, 1, 0, 45, tzinfo=timezone.utc)


def test_a_document_goes_to_the_partition_of_its_own_month():
    monthly = Settings(index_prefix="p", index_partitioning="month")
    assert index_for(monthly, "statements", NOV) == "p-statements-2016.11"
    assert index_for(monthly, "statements", DEC) == "p-statements-2016.12"
    assert index_for(monthly, "events", datetime(2017, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == \
        "p-events-2016.12"  # months are UTC
    assert index_for(Settings(index_prefix="p"), "statements", NOV) == "p-statements"


def test_an_alert_stays_in_the_month_of_its_record_when_made_again_later():
    monthly = Settings(index_prefix="p", index_partitioning="month")
    record = statement(1).model_dump(mode="json", by_alias=True)
    first = make_alert("r", "statements", record, [])
    again = Alert(**{**first.model_dump(), "timestamp": datetime(2017, 2, 1, tzinfo=timezone.utc)})
    assert alert_action(monthly, first)["_index"] == alert_action(monthly, again)["_index"] == "p-alerts-2016.12"


def test_expiry_takes_whole_months_only():
    settings = Settings(index_prefix="p")
    names = ["p-statements-2016.10", "p-statements-2016.11", "p-events-2016.12", "p-statements", "other-x-2016.01",
             "p-articles-2017.01"]
    assert [p.index for p in partitions(settings, names)] == ["p-statements-2016.10", "p-statements-2016.11",
                                                             "p-events-2016.12", "p-articles-2017.01"]
    now = datetime(2017, 3, 15, tzinfo=timezone.utc)  # 90 days earlier: 2016-12-15
    assert [p.index for p in expired(settings, names, timedelta(days=90), now)] == ["p-statements-2016.10",
                                                                                   "p-statements-2016.11"]
    assert parse_period("90d") == timedelta(days=90) and parse_period("1y") == timedelta(days=365)
    with pytest.raises(ValueError, match="use e.g. 90d"):
        parse_period("90 days")


# --- on the local Elasticsearch ---------------------------------------------------------------------------


@pytest.fixture
def monthly(stack_settings) -> Settings:
    settings = stack_settings.model_copy(update={"index_partitioning": "month"})
    ensure_templates(settings)
    return settings


def write(settings: Settings, *records) -> None:
    kinds = {Statement: STATEMENTS, Sighting: SIGHTINGS}
    actions = [a for r in records for a in record_actions(settings, kinds[type(r)], r.model_dump_json(by_alias=True))]
    result = bulk_index(make_client(settings), actions)
    assert not result.rejected, result.rejected


def copies(settings: Settings, doc_id: str) -> list[tuple[str, dict]]:
    client = make_client(settings)
    alias = settings.index("statements")
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"ids": {"values": [doc_id]}}, size=10)["hits"]["hits"]
    return [(h["_index"], h["_source"]) for h in hits]


def at(record: Statement, when: datetime, **changes) -> Statement:
    return record.model_copy(update={"timestamp": when, **changes})


@pytest.mark.integration
def test_upserts_never_duplicate_across_a_month_boundary(monthly):
    first = at(statement(1), NOV)
    later = at(statement(2, feed="reuters"), DEC)  # the same words, seen in December
    sighting = Sighting(statement_id=first.id, source="reuters", url=later.url, article_id=later.article_id,
                        timestamp=DEC, duplicate_id=later.id, statement_time=NOV)
    write(monthly, sighting)  # the sighting before its statement (another topic, another sink)
    write(monthly, first, later)
    write(monthly, first, sighting)  # a replay of both
    found = copies(monthly, first.id)
    assert len(found) == 1
    index, doc = found[0]
    assert index == f"{monthly.index('statements')}-2016.11"
    assert doc["sources"] == ["reuters", "seed"] and doc["source_count"] == 2 and doc["content"]["text"]
    [(dup_index, dup)] = copies(monthly, later.id)
    assert dup_index == f"{monthly.index('statements')}-2016.12" and dup["novel"] is False
    total, docs = search(monthly, "speaker.name:\"Vladimir Putin\"", kind="statements")
    assert total == 2 and {d["id"] for d in docs} == {first.id, later.id}  # the alias reads both months


@pytest.mark.integration
def test_prune_drops_whole_expired_months_only_when_asked(monthly):
    write(monthly, at(statement(1), datetime(2016, 10, 5, tzinfo=timezone.utc)), at(statement(2), NOV),
          at(statement(3), DEC))
    client = make_client(monthly)
    alias = monthly.index("statements")
    now = datetime(2017, 3, 15, tzinfo=timezone.utc)
    dry = prune(monthly, timedelta(days=90), client, now=now)
    assert [p.index for p in dry] == [f"{alias}-2016.10", f"{alias}-2016.11"]
    client.indices.refresh(index=alias)
    assert client.count(index=alias)["count"] == 3  # a dry run deletes nothing
    prune(monthly, timedelta(days=90), client, now=now, delete=True)
    client.indices.refresh(index=alias)
    assert client.count(index=alias)["count"] == 1
    assert sorted(client.indices.get(index=f"{alias}-*")) == [f"{alias}-2016.12"]
    assert prune(monthly, timedelta(days=90), client, now=now, delete=True) == []


@pytest.mark.integration
def test_an_unpartitioned_index_of_the_alias_name_is_refused_clearly(stack_settings):
    ensure_templates(stack_settings)  # the one-index layout
    with pytest.raises(LegacyIndexError, match="NEWSMON_INDEX_PARTITIONING=none"):
        ensure_templates(stack_settings.model_copy(update={"index_partitioning": "month"}))


def test_the_lifecycle_policy_waits_the_retention_and_the_longest_month():
    policy = lifecycle_policy(timedelta(days=90))
    assert policy == {"phases": {"delete": {"min_age": "121d", "actions": {"delete": {}}}}}
    assert lifecycle_policy(timedelta(days=89, hours=1))["phases"]["delete"]["min_age"] == "121d"


@pytest.mark.integration
def test_without_ilm_the_partitions_carry_no_policy_and_init_says_to_prune(stack_settings):
    settings = stack_settings.model_copy(update={"index_partitioning": "month", "index_retention": "90d",
                                                 "index_prefix": "retention-noilm"})
    client = make_client(settings)
    assert has_lifecycle(client) is False  # the local servers have no index lifecycle management
    ensure_templates(settings, client)
    template = client.indices.get_index_template(name=settings.index("statements"))["index_templates"][0]
    assert "lifecycle" not in template["index_template"]["template"]["settings"]["index"]
    assert "newsmon prune --older-than 90d --yes" in retention_summary(settings, client)
