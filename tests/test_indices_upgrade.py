"""An index made by an older newsmon (before names and codes matched in any case and spelling) is found by
`newsmon init`, which says so, and rebuilt by `newsmon init --reindex`: same documents, today's mapping,
the gazetteer's other spellings added, so the searches of the README work on the old data too."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from newsmon.cli import app
from newsmon.indices import make_client, mapping_drift, stale_indices, template
from newsmon.search import search

pytestmark = pytest.mark.integration

LAVROV = {"id": "s1", "@timestamp": "2017-01-10T10:00:00Z", "article_id": "a1", "kind": "direct", "feed": "demo",
          "url": "http://127.0.0.1/a1", "title": "Zarif and Lavrov discuss Astana",
          "content": {"start": 0, "end": 20, "text": "The talks in Astana will help"},
          "speaker": {"start": 30, "end": 43, "text": "Sergei Lavrov", "name": "Sergey Lavrov",
                      "id": "newsmon:sergey_lavrov", "country": "RU"},
          "about": ["Astana", "KZ"], "countries": ["RU", "KZ"], "sources": ["demo"], "source_count": 1}


def older_mapping(props: dict) -> dict:
    """The statements mapping as newsmon made it before: plain keywords, nothing copied, no alias fields."""
    out = {}
    for key, spec in props.items():
        if key.endswith("_aliases") or key == "canonical":
            continue
        spec = copy.deepcopy(spec)
        if "properties" in spec:
            spec["properties"] = older_mapping(spec["properties"])
        spec.pop("normalizer", None)
        spec.pop("copy_to", None)
        spec.get("fields", {}).pop("raw", None)
        if spec.get("fields") == {}:
            del spec["fields"]
        out[key] = spec
    return out


def test_the_older_mapping_differs_where_it_matters():
    props = template("statements")["mappings"]["properties"]
    drift = mapping_drift(props, older_mapping(props))
    assert {"speaker.name", "speaker.country", "about", "countries", "speaker_aliases", "speaker.canonical"} <= set(drift)
    assert mapping_drift(props, props) == []


def _env(settings) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers, "ELASTICSEARCH_URL": settings.elasticsearch_url,
            "NEWSMON_TOPIC_PREFIX": settings.topic_prefix, "NEWSMON_INDEX_PREFIX": settings.index_prefix,
            "NEWSMON_DATA_DIR": str(settings.data_dir), "NEWSMON_PARTITIONS": "1"}


def test_init_finds_an_older_index_and_reindex_rebuilds_it(stack_settings, stack_kind):
    if stack_kind != "apache":
        pytest.skip("the lite stand-in implements neither normalizers nor copy_to")
    client = make_client(stack_settings)
    index = stack_settings.index("statements")
    props = template("statements")["mappings"]["properties"]
    client.indices.create(index=index, mappings={"dynamic": "false", "properties": older_mapping(props)})
    client.index(index=index, id=LAVROV["id"], document=LAVROV, refresh=True)
    assert search(stack_settings, 'speaker.name:"sergey lavrov"')[0] == 0  # the older mapping: case-sensitive

    runner = CliRunner()
    said = runner.invoke(app, ["init", "--wait", "60"], env=_env(stack_settings))
    assert said.exit_code == 0, said.output
    assert f"{index} was made by an older newsmon" in said.output and "--reindex" in said.output
    assert index in stale_indices(stack_settings)

    done = runner.invoke(app, ["init", "--wait", "60", "--reindex"], env=_env(stack_settings))
    assert done.exit_code == 0, done.output
    assert f"{index}: rebuilt from its template (1 documents)" in done.output
    assert stale_indices(stack_settings) == {}
    assert not client.indices.exists(index=f"reindex-{index}")
    for query in ('speaker.name:"sergey lavrov"', "speaker.name:Lavrov", 'speaker.name:"Sergei Lavrov"',
                  "speaker.country:ru AND about:kz"):
        total, docs = search(stack_settings, query)
        assert total == 1 and docs[0]["id"] == "s1", query
    assert docs[0]["speaker_aliases"] == ["Sergei Lavrov", "Lavrov"]
