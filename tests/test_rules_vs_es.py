"""Rule semantics: for a table of queries x statements, the compiled rules must agree with what the
Elasticsearch-API server's `query_string` returns for the same documents indexed with the statements
template. Both are run here and compared; nothing is hard-coded except known server deviations."""

from __future__ import annotations

import dataclasses

import pytest
from elasticsearch import Elasticsearch

from newsmon.alerts.query import Doc, compile_query, fields_for
from newsmon.indices import template as index_template
from newsmon.alerts.rules import Rule

pytestmark = pytest.mark.integration

DOCS = [
    {"id": "s1", "@timestamp": "2016-12-24T21:00:00Z", "article_id": "a2", "kind": "direct", "feed": "mehr",
     "url": "https://en.mehrnews.com/news/1", "title": "Presidents of Iran and Russia spoke on phone",
     "content": {"start": 10, "end": 90, "text": "Tehran and Moscow's consultation and cooperation, which has so "
                 "far been in line with a constructive policy in the international stage, will continue"},
     "speaker": {"start": 0, "end": 5, "text": "Vladimir Putin", "name": "Vladimir Putin", "id": "Q7747",
                 "country": "RU"}, "speaker_aliases": ["Putin", "Vladimir Vladimirovich Putin"],
     "cue": {"start": 6, "end": 10, "text": "said"}, "about": ["Tehran", "Moscow", "IR", "RU"],
     "countries": ["IR", "RU", "SY"], "sources": ["mehr"], "source_count": 1, "novel": True},
    {"id": "s2", "@timestamp": "2016-12-24T21:05:00Z", "article_id": "a2", "kind": "direct", "feed": "mehr",
     "url": "https://en.mehrnews.com/news/1", "title": "Presidents of Iran and Russia spoke on phone",
     "content": {"start": 100, "end": 160, "text": "We suggest that the peace process be started in Kazakhstan"},
     "speaker": {"start": 95, "end": 99, "text": "the Russian president", "name": "Vladimir Putin", "id": "Q7747",
                 "country": "RU"}, "speaker_aliases": ["Putin", "Vladimir Vladimirovich Putin"],
     "cue": {"start": 90, "end": 94, "text": "said"}, "about": ["Kazakhstan", "KZ", "SY"], "countries": ["RU", "SY"],
     "sources": ["mehr", "presstv"], "source_count": 2, "novel": True},
    {"id": "s3", "@timestamp": "2017-01-16T08:00:00Z", "article_id": "a1", "kind": "indirect", "feed": "presstv",
     "url": "https://www.presstv.ir/Detail/2017/01/16", "title": "Iran, Russia FMs discuss Astana talks",
     "content": {"start": 0, "end": 50, "text": "the situation in and around Syria, ahead of the Astana talks"},
     "speaker": {"start": 0, "end": 30, "text": "the Russian Foreign Ministry", "name": "Russian Foreign Ministry",
                 "country": "RU"},
     "cue": {"start": 31, "end": 35, "text": "said"}, "about": ["SY", "Astana"], "countries": ["SY", "RU", "IR"],
     "sources": ["presstv"], "source_count": 1, "novel": False},
    {"id": "s4", "@timestamp": "2016-03-28T12:00:00Z", "article_id": "a0", "kind": "direct", "feed": "sputnik",
     "url": "https://sputniknews.com/world/1", "title": "Putin, Rouhani agree on Syria",
     "content": {"start": 0, "end": 120, "text": "During the ceasefire, the political talks (among Syrian groups) "
                 "should be accelerated but this should not halt the fighting against terrorists in Syria"},
     "speaker": {"start": 121, "end": 128, "text": "Rouhani", "name": "Hassan Rouhani", "id": "Q45927",
                 "country": "IR"}, "speaker_aliases": ["Rouhani", "Hassan Rohani", "Rohani"],
     "cue": {"start": 133, "end": 140, "text": "quoted"}, "via": "IRNA", "about": ["SY", "Syrian groups"],
     "countries": ["IR", "SY"], "sources": ["sputnik"], "source_count": 1},
    {"id": "s5", "@timestamp": "2016-03-28T12:30:00Z", "article_id": "a0", "kind": "indirect", "feed": "sputnik",
     "url": "https://sputniknews.com/world/1", "title": "Putin, Rouhani agree on Syria",
     "content": {"start": 200, "end": 260, "text": "Iran’s support continues for the fight against terrorism in "
                 "Syria, Iraq and countries exposed to this threat"},
     "speaker": {"start": 180, "end": 186, "text": "Ansari", "name": "Hossein Jaber-Ansari", "country": "IR"},
     "about": ["IR", "SY", "IQ"], "countries": ["IR", "SY"], "sources": ["sputnik"], "source_count": 3},
    {"id": "s6", "@timestamp": "2017-01-16T09:00:00Z", "article_id": "a1", "kind": "direct", "feed": "presstv",
     "url": "https://www.presstv.ir/Detail/2017/01/16", "title": "Iran, Russia FMs discuss Astana talks",
     "content": {"start": 60, "end": 120, "text": "The talks in Astana will help to consolidate the ceasefire"},
     "speaker": {"start": 40, "end": 53, "text": "Sergei Lavrov", "name": "Sergey Lavrov", "country": "RU"},
     "speaker_aliases": ["Sergei Lavrov", "Lavrov"],
     "cue": {"start": 54, "end": 59, "text": "said"}, "about": ["Astana", "KZ", "SY"], "countries": ["RU", "KZ"],
     "sources": ["presstv"], "source_count": 1, "novel": True},
]

# Every query is run on the server and through the rule evaluator, and the matches must be equal.
QUERIES: list[str] = [
    'speaker.name:"Vladimir Putin" AND about:SY',
    'speaker.name:"Hassan Rouhani"',
    'speaker.name:"vladimir putin"',  # names: any case
    "speaker.name:Vladimir",  # names: a whole name the gazetteer knows, not any word of one
    "speaker.name:vladimir*",
    "about:SY",
    "about:sy",
    "about:(IR OR ru)",
    "about:astana",
    "countries:kz",
    "speaker.country:ru",
    "speaker.country:Ir AND kind:direct",
    "speaker.country:r*",
    "speaker.country:RU AND NOT countries:sy",
    # names in any spelling the gazetteer knows, in any case: the records carry the other spellings in
    # speaker_aliases, which the template copies into speaker.name
    "speaker.name:Lavrov",
    "speaker.name:lavrov",
    'speaker.name:"Sergei Lavrov"',
    'speaker.name:"Sergey Lavrov"',
    'speaker.name:"SERGEI LAVROV"',
    "speaker.name:(Sergei Lavrov)",
    "speaker.name:Sergei",
    "speaker.name:Putin",
    "speaker.name:Putin AND about:SY",
    "speaker.name:Rouhani OR speaker.name:Lavrov",
    "speaker.name:lav*",
    "speaker.name:rohani",
    "speaker.canonical:Lavrov",
    'speaker.canonical:"Sergey Lavrov"',
    "_exists_:speaker.canonical",
    "lavrov",
    "putin lavrov",
    "sergei lavrov OR rouhani",
    "about:(SY OR KZ)",
    "about:(SY AND IR)",
    "countries:SY AND NOT countries:RU",
    "astana",
    "Astana",
    "content.text:ASTANA",
    'content.text:"astana talks"',
    'content.text:"talks astana"',
    'content.text:"peace process"',
    "content.text:(peace OR ceasefire)",
    "content.text:(peace AND ceasefire)",
    "content.text:terror*",
    "content.text:Terror*",
    "content.text:ter?orism",
    "content.text:moscow",  # standard tokenizer keeps "moscow's" whole
    'content.text:"moscow\'s consultation"',
    "content.text:iran",  # "Iran’s" is one token
    "content.text:*",
    "kazakhstan",
    "Kazakhstan",  # keyword about:Kazakhstan and the text token
    "syria",
    "putin",
    "vladimir",
    "mehr",
    "Mehr",
    "direct",
    "IRNA",
    "irna",
    "Q7747",
    "putin rouhani",
    "putin OR rouhani",
    "putin AND rouhani",
    "putin AND NOT rouhani",
    "NOT putin",
    "-putin",
    "+syria -rouhani",
    "+syria terrorism",
    "(putin OR rouhani) AND about:SY",
    "kind:direct AND (speaker.country:IR OR feed:mehr)",
    "kind:indirect OR via:IRNA",
    "title:presidents",
    "title:Presidents AND content.text:kazakhstan",
    'title.keyword:"Putin, Rouhani agree on Syria"',
    "title.keyword:Putin*",
    "speaker.text:russian",
    "cue.text:said",
    "cue.text:SAID",
    "via:*",
    "_exists_:via",
    "NOT _exists_:speaker.id",
    "_exists_:novel",
    "novel:true",
    "novel:false",
    "source_count:[2 TO 5]",
    "source_count:{1 TO 3}",
    "source_count:>=2",
    "source_count:<2",
    "source_count:>1 AND speaker.country:IR",
    "@timestamp:[2016-12-01 TO 2016-12-31]",
    "@timestamp:[2016-03-28 TO 2016-03-28]",
    "@timestamp:{2016-03-28 TO *}",
    "@timestamp:[* TO 2016-12-24T21:00:00]",
    "@timestamp:[2017-01-01 TO now]",
    "@timestamp:[now-30d TO now]",
    "speaker.\\*:RU",
    "@timestamp:[2016-12-24T21:01 TO 2016-12-24T21:10]",
    "@timestamp:[now-20y/y TO now/d]",
    "source_count:[2 TO *] OR novel:false",
    "feed:[mehr TO presstv]",
    "title:(iran russia) AND NOT content.text:peace",
    "speaker.name:(\"Vladimir Putin\" OR \"Hassan Rouhani\") AND kind:direct",
    "putin^2 OR rouhani",
    "putin OR rouhani AND terrorism",  # Lucene's classic parser, not boolean precedence
    "kazakhstan AND putin OR astana",
    "NOT putin OR rouhani",
    "about:SY -(kind:indirect)",
]

# Elasticsearch's documented answers (checked on Apache Elasticsearch 8.19 here) where the lite stand-in
# (noida-db) departs from it: (query, ids, what the stand-in does). Our engine must give these answers; on
# the real server they are ordinary rows of the comparison, on the stand-in they are skipped with the reason.
DOCUMENTED: list[tuple[str, set[str], str]] = [
    ("@timestamp:2016-12-24", {"s1", "s2"}, "the stand-in matches a date term to the millisecond (ES: the whole "
     "day, the upper bound rounded up)"),
    ("content.text:[a TO c]", {"s1", "s2", "s3", "s4", "s5", "s6"}, "the stand-in has no term ranges on text fields "
     "(ES: any token in range; each document has one, e.g. 'and', 'be')"),
    ("source_count:2", {"s2"}, "the stand-in does not match integer fields by a single term"),
    ("@timestamp:>2016-12-24", {"s3", "s6"}, "the stand-in mis-evaluates > on dates (ES: after the end of that day)"),
    ("@timestamp:<2016-03-29", {"s4", "s5"}, "the stand-in mis-evaluates < on dates"),
    ("jaber-ansari", {"s5"}, "the stand-in matches nothing for a term that analyses into two tokens (ES: either "
     "token, default operator OR)"),
    ('"astana talks"', {"s3", "s6"}, "the stand-in fails a bare phrase on date fields (ES's default_field * is lenient)"),
    ('"Sergei Lavrov"', {"s6"}, "the stand-in fails a bare phrase on date fields (ES: speaker.text has it)"),
    ("speaker.name:Vladimir*", {"s1", "s2"}, "the stand-in does not normalize a wildcard pattern (ES lowercases "
     "it with the field's normalizer)"),
    ("speaker.name:*Rouhani", {"s4"}, "the stand-in does not normalize a wildcard pattern"),
    ("speaker.name:H?ssan*", {"s4"}, "the stand-in does not normalize a wildcard pattern"),
    ("about:Kazakh*", {"s2"}, "the stand-in does not normalize a wildcard pattern"),
    ("about:(IR RU)", set(), "the stand-in splits a group on whitespace (ES: one value \"IR RU\", its parser does "
     "not split on whitespace)"),
    ("about:(ir ru)", set(), "the stand-in splits a group on whitespace"),
    ("countries:(IR RU)", set(), "the stand-in splits a group on whitespace"),
    ("countries:[ir TO ru]", {"s1", "s2", "s3", "s4", "s5", "s6"}, "the stand-in does not normalize range bounds "
     "(ES compares ir..ru with the lowercased values: IR, KZ, RU)"),
]
STAND_IN_DEPARTS = {query: why for query, _, why in DOCUMENTED}



@pytest.fixture(scope="module")
def es_index(search):
    es = Elasticsearch(search.url)
    template = index_template("statements")
    index = "rules-vs-es-statements"
    if es.indices.exists(index=index):
        es.indices.delete(index=index)
    es.indices.create(index=index, settings=template["settings"], mappings=template["mappings"])
    for doc in DOCS:
        es.index(index=index, id=doc["id"], document=doc)
    es.indices.refresh(index=index)
    yield es, index
    es.indices.delete(index=index)


def _es_hits(es: Elasticsearch, index: str, query: str) -> set[str]:
    res = es.search(index=index, query={"query_string": {"query": query}}, size=100)
    return {h["_id"] for h in res["hits"]["hits"]}


def _ours(query: str) -> set[str]:
    rule = Rule(name="t", query=query)
    return {d["id"] for d in DOCS if rule.matches(d)}


def _needs_copy_to(query: str) -> bool:
    """Whether the answer depends on the values the template copies into fields (`copy_to`: the speaker's
    other spellings into speaker.name), which the lite stand-in does not implement."""
    plain = {n: dataclasses.replace(f, copies=()) for n, f in fields_for("statements").items()}
    compiled = compile_query(query, plain)
    return {d["id"] for d in DOCS if compiled.matches(Doc(d, plain))} != _ours(query)


@pytest.mark.parametrize("query", QUERIES + [q for q, _, _ in DOCUMENTED])
def test_rule_agrees_with_query_string(es_index, stack_kind, query):
    if stack_kind == "lite" and query in STAND_IN_DEPARTS:
        pytest.skip(f"the lite stand-in departs from Elasticsearch here: {STAND_IN_DEPARTS[query]}")
    if stack_kind == "lite" and _needs_copy_to(query):
        pytest.skip("the lite stand-in does not copy the speaker's other spellings into speaker.name (copy_to)")
    es, index = es_index
    assert _ours(query) == _es_hits(es, index, query)


@pytest.mark.parametrize("query,expected,why", DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_rule_gives_the_documented_answer(query, expected, why):
    assert _ours(query) == expected


def test_table_is_not_trivial():
    """The table exercises both outcomes: each document matches some queries and misses others."""
    for doc in DOCS:
        results = {Rule(name="t", query=q).matches(doc) for q in QUERIES}
        assert results == {True, False}, doc["id"]
