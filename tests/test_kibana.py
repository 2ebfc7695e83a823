"""Kibana's saved objects: every field they name exists in the index templates with a fitting type, every
reference resolves, and `import_saved_objects` sends Kibana's import request (checked on a stand-in HTTP
server: Kibana itself does not run here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from luqum.parser import parser as lucene
from luqum.tree import SearchField, Term, Word
from werkzeug import Request, Response

from newsmon.kibana import KibanaError, import_once, import_saved_objects, load_saved_objects, render
from newsmon.settings import Settings
from newsmon.indices import template

OBJECTS = load_saved_objects()
AGGREGATABLE = {"keyword", "date", "boolean", "integer", "long", "float", "double", "geo_point", "ip"}
DEPLOY_COPY = Path(__file__).resolve().parent.parent / "deploy" / "kibana" / "newsmon.ndjson"


def field_types(index: str, mappings: dict | None = None) -> dict[str, str]:
    """Dotted field name -> mapped type of one index template (multi-fields included)."""
    out: dict[str, str] = {}

    def walk(props: dict, prefix: str) -> None:
        for name, spec in props.items():
            path = prefix + name
            if "properties" in spec:
                walk(spec["properties"], path + ".")
                continue
            out[path] = spec.get("type", "object")
            for sub, sub_spec in spec.get("fields", {}).items():
                out[f"{path}.{sub}"] = sub_spec["type"]

    walk((mappings or template(index)["mappings"])["properties"], "")
    return out


def index_of(view_id: str) -> str:
    return view_id.removeprefix("newsmon-")


def view_of(obj: dict, ref_name: str) -> str:
    return next(r["id"] for r in obj["references"] if r["name"] == ref_name and r["type"] == "index-pattern")


def query_fields(query: str) -> set[str]:
    """Field names a Lucene query names (`f:value`, `_exists_:f`)."""
    names: set[str] = set()
    stack = [lucene.parse(query)]
    while stack:
        node = stack.pop()
        if isinstance(node, SearchField):
            if node.name == "_exists_" and isinstance(node.expr, (Word, Term)):
                names.add(node.expr.value)
            else:
                names.add(node.name)
        stack.extend(node.children)
    return names


def uses(obj: dict) -> list[tuple[str, str, str]]:
    """(index, field, need) for every field a saved object uses; need is `date`, `aggregatable`,
    `geo_point` or `exists`."""
    kind, attrs = obj["type"], obj["attributes"]
    if kind == "index-pattern":
        return [(index_of(obj["id"]), attrs["timeFieldName"], "date")]
    if kind == "search":
        index = index_of(view_of(obj, "kibanaSavedObjectMeta.searchSourceJSON.index"))
        source = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
        return ([(index, c, "exists") for c in attrs["columns"]] + [(index, f, "date") for f, _ in attrs["sort"]]
                + [(index, f, "exists") for f in query_fields(source["query"]["query"])])
    if kind == "visualization":
        index = index_of(view_of(obj, "kibanaSavedObjectMeta.searchSourceJSON.index"))
        aggs = json.loads(attrs["visState"])["aggs"]
        return [(index, a["params"]["field"], "aggregatable") for a in aggs if "field" in a["params"]]
    if kind == "map":
        found = []
        for layer in json.loads(attrs["layerListJSON"]):
            src = layer["sourceDescriptor"]
            index = index_of(view_of(obj, src["indexPatternRefName"]))
            found += [(index, src["geoField"], "geo_point"), (index, src["sortField"], "date")]
            found += [(index, f, "exists") for f in src["tooltipProperties"]]
        return found
    return []


def problems(objects: list[dict], types_of=field_types) -> list[str]:
    """Every field use that the templates do not support."""
    out = []
    for obj in objects:
        for index, name, need in uses(obj):
            mapped = types_of(index).get(name)
            ok = (mapped is not None and (need == "exists" or (need == "date" and mapped == "date")
                                          or (need == "geo_point" and mapped == "geo_point")
                                          or (need == "aggregatable" and mapped in AGGREGATABLE)))
            if not ok:
                out.append(f"{obj['type']} {obj['id']}: {index}.{name} is {mapped or 'not mapped'}, needs {need}")
    return out


def test_every_field_the_saved_objects_use_is_mapped_as_they_need():
    assert sum(len(uses(o)) for o in OBJECTS) > 40  # the check looks at the objects' fields, not at nothing
    assert problems(OBJECTS) == []


def test_a_renamed_or_retyped_field_breaks_the_check():
    def renamed(index: str) -> dict[str, str]:
        types = field_types(index)
        if index == "statements":
            types["speaker.fullname"] = types.pop("speaker.name")
            types["sources"] = "text"
        if index == "events":
            types["location.point"] = "float"
        return types

    found = problems(OBJECTS, renamed)
    assert any("statements.speaker.name is not mapped" in p for p in found)
    assert any("statements.sources is text, needs aggregatable" in p for p in found)
    assert any("events.location.point is float, needs geo_point" in p for p in found)


def test_the_objects_an_analyst_starts_from():
    by_type: dict[str, set[str]] = {}
    for obj in OBJECTS:
        by_type.setdefault(obj["type"], set()).add(obj["id"])
    assert by_type["index-pattern"] == {f"newsmon-{i}" for i in ("articles", "statements", "events", "alerts")}
    assert {"newsmon-watchlist-statements", "newsmon-statements-by-speaker", "newsmon-alerts"} <= by_type["search"]
    assert by_type["dashboard"] == {"newsmon-overview"} and by_type["map"] == {"newsmon-map"}
    geo = {(i, f) for o in OBJECTS if o["type"] == "map" for i, f, need in uses(o) if need == "geo_point"}
    assert geo == {("articles", "locations"), ("events", "location.point")}


def test_every_reference_resolves_and_every_panel_has_one():
    ids = {(o["type"], o["id"]) for o in OBJECTS}
    for obj in OBJECTS:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{obj['id']} -> {ref}"
    dashboard = next(o for o in OBJECTS if o["type"] == "dashboard")
    refs = {r["name"] for r in dashboard["references"]}
    for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
        assert f"{panel['panelIndex']}:{panel['panelRefName']}" in refs


def test_the_deploy_folder_holds_the_same_file():
    assert DEPLOY_COPY.read_bytes() == Path(__file__).resolve().parent.parent.joinpath(
        "newsmon", "kibana.ndjson").read_bytes()


def test_data_views_follow_the_index_prefix():
    rendered = [json.loads(line) for line in render(Settings(index_prefix="prod")).decode().splitlines()]
    titles = sorted(o["attributes"]["title"] for o in rendered if o["type"] == "index-pattern")
    assert titles == ["prod-alerts*", "prod-articles*", "prod-events*", "prod-statements*"]
    assert len(rendered) == len(OBJECTS)


# --- the import request, against a stand-in for Kibana's saved-objects API --------------------------------


def kibana_import(expected_auth: str | None = None):
    """A handler answering like Kibana's `_import` once the request has the shape Kibana requires."""
    seen: list[Request] = []

    def handle(request: Request) -> Response:
        seen.append(request)
        wrong = []
        if request.args.get("overwrite") != "true":
            wrong.append("overwrite=true missing")
        if not request.headers.get("kbn-xsrf"):
            wrong.append("kbn-xsrf header missing")  # Kibana answers 400 without it
        if expected_auth and request.headers.get("Authorization") != expected_auth:
            return Response(json.dumps({"statusCode": 401, "message": "Unauthorized"}), 401)
        upload = request.files.get("file")
        if upload is None or not upload.filename.endswith(".ndjson"):
            wrong.append("no multipart field `file` with an .ndjson file name")
        if wrong:
            return Response(json.dumps({"statusCode": 400, "message": "; ".join(wrong)}), 400)
        objects = [json.loads(line) for line in upload.read().decode().splitlines()]
        body = {"success": True, "successCount": len(objects),
                "successResults": [{"type": o["type"], "id": o["id"]} for o in objects]}
        return Response(json.dumps(body), 200, content_type="application/json")

    return handle, seen


def test_import_sends_kibanas_import_request(httpserver):
    handle, seen = kibana_import()
    httpserver.expect_request("/api/saved_objects/_import", method="POST").respond_with_handler(handle)
    count = import_once(httpserver.url_for(""), Settings())
    assert count == len(OBJECTS)
    assert len(seen) == 1 and seen[0].content_type.startswith("multipart/form-data")


def test_import_waits_for_kibana_to_start(httpserver):
    handle, seen = kibana_import(expected_auth="ApiKey s3cr3t-key")
    said: list[str] = []
    for _ in range(2):  # "Kibana server is not ready yet"
        httpserver.expect_ordered_request("/api/saved_objects/_import").respond_with_data("not ready", 503)
    httpserver.expect_ordered_request("/api/saved_objects/_import").respond_with_handler(handle)
    settings = Settings(elasticsearch_api_key="s3cr3t-key")
    count = import_saved_objects(httpserver.url_for("/"), settings, wait_s=30, say=said.append)
    assert count == len(OBJECTS)
    assert len(said) == 2 and all("waiting for Kibana" in line and "503" in line for line in said)
    assert not any("s3cr3t" in line for line in said)


def test_refused_import_fails_at_once_with_the_reason(httpserver):
    handle, seen = kibana_import(expected_auth="ApiKey right")
    httpserver.expect_request("/api/saved_objects/_import").respond_with_handler(handle)
    with pytest.raises(KibanaError, match="HTTP 401 Unauthorized"):
        import_saved_objects(httpserver.url_for("/"), Settings(elasticsearch_api_key="wrong"), wait_s=30,
                             say=lambda line: None)
    assert len(seen) == 1


def test_objects_kibana_could_not_import_are_named(httpserver):
    httpserver.expect_request("/api/saved_objects/_import").respond_with_json(
        {"success": False, "successCount": 13,
         "errors": [{"type": "map", "id": "newsmon-map", "error": {"type": "missing_references"}}]})
    with pytest.raises(KibanaError, match="map newsmon-map: missing_references"):
        import_once(httpserver.url_for("/"), Settings())
