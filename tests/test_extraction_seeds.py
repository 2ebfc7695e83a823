"""Acceptance cases on the three seed articles, through `extract_texts` and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from newsmon.records import Extraction
from newsmon.processors.extraction import extract_texts
from tests.conftest import SEEDS_DIR
from tests.extraction_support import SEED_PUBLISHED, pipeline


@pytest.fixture(scope="module")
def seeds(seed_texts) -> dict[str, Extraction]:
    keys = sorted(seed_texts)
    out = extract_texts(pipeline(), [(seed_texts[k], SEED_PUBLISHED[k]) for k in keys])
    return dict(zip(keys, out, strict=True))


def statement(ex: Extraction, fragment: str):
    found = [s for s in ex.statements if fragment in s.content.text]
    assert found, f"no statement containing {fragment!r}; got {[s.content.text[:50] for s in ex.statements]}"
    return found[0]


def test_offsets_point_into_the_text(seeds, seed_texts):
    for key, ex in seeds.items():
        text = seed_texts[key]
        for e in ex.entities:
            assert text[e.start:e.end] == e.text
        for s in ex.statements:
            assert s.content.text.startswith(text[s.content.start:s.content.start + 10])
            if s.speaker:
                assert text[s.speaker.start:s.speaker.end] == s.speaker.text
        for ev in ex.events:
            assert text[ev.trigger.start:ev.trigger.end] == ev.trigger.text


def test_000_quotes_and_their_outlets(seeds):
    ex = seeds["000"]
    rouhani = statement(ex, "During the ceasefire")
    assert "fighting against terrorists in Syria" in rouhani.content.text
    assert (rouhani.kind, rouhani.speaker.name, rouhani.via) == ("direct", "Hassan Rouhani", "IRNA")
    assert "SY" in rouhani.about
    shamkhani = statement(ex, "The Iranian government and armed forces will continue")
    assert (shamkhani.speaker.name, shamkhani.speaker.country, shamkhani.via) == ("Ali Shamkhani", "IR", "Reuters")
    ansari = statement(ex, "Iran’s support continues")
    assert ansari.speaker.name == "Hossein Jaber Ansari"
    assert ansari.via == "Al Arabiya"
    march = statement(ex, "Syria will march forward")
    assert march.speaker is not None and march.speaker.name == "Hossein Jaber Ansari"


def test_000_reported_statement_and_role_speaker(seeds):
    ex = seeds["000"]
    jafari = statement(ex, "the current situation in Syria is very good")
    assert (jafari.kind, jafari.speaker.name, jafari.speaker.country) == ("indirect", "Mohammad Ali Jafari", "IR")
    iranian_president = statement(ex, "the cooperation between Iran and Russia is essential")
    assert iranian_president.speaker.text == "The Iranian president"
    assert iranian_president.speaker.name == "Hassan Rouhani"


def test_000_phone_call_between_russia_and_iran(seeds):
    consults = [ev for ev in seeds["000"].events if ev.type == "consult" and {"RU", "IR"} <= set(ev.countries)]
    assert [ev.trigger.text for ev in consults] == ["phone call"]  # "exchanged views ... over a phone call"
    assert {a.name for a in consults[0].actors} == {"Vladimir Putin", "Hassan Rouhani"}


def test_000_palmyra_is_a_syrian_place(seeds):
    palmyra = [e for e in seeds["000"].entities if e.text == "Palmyra"]
    assert len(palmyra) == 2
    for e in palmyra:
        assert e.label == "GPE" and e.country == "SY" and e.name == "Palmyra"
        assert e.lat == pytest.approx(34.56, abs=0.1) and e.lon == pytest.approx(38.27, abs=0.1)
    assert not [e for e in seeds["000"].entities if e.label == "PERSON" and "Palmyra" in e.text]


def test_001_consult_and_negotiate(seeds):
    ex = seeds["001"]
    consult = [ev for ev in ex.events if ev.type == "consult" and "phone" in ev.trigger.text]
    assert consult
    assert {a.name for a in consult[0].actors} == {"Mohammad Javad Zarif", "Sergey Lavrov"}
    assert {"IR", "RU"} <= set(consult[0].countries)
    assert str(consult[0].date) == "2017-01-09"  # "on Monday", published Tuesday 10 January
    astana = [ev for ev in ex.events if ev.type == "negotiate" and ev.location and ev.location.name == "Astana"
              and str(ev.date) == "2017-01-23"]
    assert astana, [(ev.type, ev.location, ev.date) for ev in ex.events]
    assert astana[0].location.country == "KZ" and astana[0].location.lat is not None


def test_001_assad_and_de_mistura(seeds):
    ex = seeds["001"]
    assad = statement(ex, '"optimistic"')
    assert assad.speaker.name == "Bashar al-Assad"
    mistura = statement(ex, "400,000 people had been killed")
    assert (mistura.kind, mistura.speaker.name) == ("indirect", "Staffan de Mistura")


def test_002_rouhani_and_putin_quotes(seeds):
    ex = seeds["002"]
    assert statement(ex, "This victory sent the message").speaker.name == "Hassan Rouhani"
    assert statement(ex, "Kazakhstan is a suitable place").speaker.name == "Hassan Rouhani"
    assert statement(ex, "This move indicates").speaker.text == "He"
    assert statement(ex, "This move indicates").speaker.name == "Hassan Rouhani"
    assert statement(ex, "Tehran and Moscow's consultation").speaker.name == "Vladimir Putin"
    assert statement(ex, "The achievement of Moscow-Tehran").speaker.name == "Vladimir Putin"
    suggest = statement(ex, "We suggest that the peace process be started in Kazakhstan")
    assert suggest.speaker.text == "the Russian president"
    assert (suggest.speaker.name, suggest.speaker.id, suggest.speaker.country) == ("Vladimir Putin", "Q7747", "RU")


def test_002_phone_call_dated_saturday(seeds):
    consults = [ev for ev in seeds["002"].events if ev.type == "consult"]
    assert len(consults) == 1, consults  # "spoke on phone", "the phone conversation", "the same conversation"
    assert str(consults[0].date) == "2016-12-24" and {"IR", "RU"} <= set(consults[0].countries)
    assert "phone" in consults[0].trigger.text and consults[0].location is None


def test_seeds_are_relevant_to_the_watchlist(seeds):
    for ex in seeds.values():
        assert ex.relevant and set(ex.countries) == {"SY", "IR", "RU"}
        assert all(0 < s <= 1 for s in ex.country_scores.values())


def test_cli_prints_one_json_line_per_input():
    path = next(SEEDS_DIR.glob("002_*.txt"))
    proc = subprocess.run([sys.executable, "-m", "newsmon.cli", "extract", "--json", "--published", "2016-12-25",
                           str(path), "-"], input="Putin said Russia would keep its bases in Syria.".encode(),
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [line["source"] for line in lines] == [str(path), "-"]
    text = path.read_text(encoding="utf-8")
    suggest = next(s for s in lines[0]["statements"] if "We suggest" in s["content"]["text"])
    assert suggest["speaker"]["name"] == "Vladimir Putin"
    assert text[suggest["speaker"]["start"]:suggest["speaker"]["end"]] == "the Russian president"
    assert set(lines[0]) >= {"source", "entities", "statements", "events", "countries"}
    assert any(ev["type"] == "consult" and ev["date"] == "2016-12-24" for ev in lines[0]["events"])
    stdin = lines[1]["statements"][0]
    assert stdin["speaker"]["name"] == "Vladimir Putin" and "SY" in stdin["about"]


def test_cli_reports_unreadable_input_and_goes_on(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Lavrov said talks would resume.", encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    proc = subprocess.run([sys.executable, "-m", "newsmon.cli", "extract", "--json", str(bad), str(good)],
                          capture_output=True, timeout=300)
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert "UnicodeDecodeError" in lines[0]["error"]
    assert lines[1]["statements"][0]["speaker"]["name"] == "Sergey Lavrov"


def test_cli_rejects_a_bad_publication_date():
    from typer.testing import CliRunner

    from newsmon.cli import app

    result = CliRunner().invoke(app, ["extract", "--json", "--published", "2016-13-01", "-"], input="Putin spoke.")
    assert result.exit_code == 2 and "not a date" in result.output
