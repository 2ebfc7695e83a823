"""Entities: gazetteer over NER, places and demonyms, name variants, speaker resolution."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from newsmon.records import RawArticle, stable_id
from newsmon.processors.extraction import extract_article, extract_articles, extract_texts
from newsmon.processors.extraction.gazetteer import load_actors
from tests.extraction_support import pipeline


def extract(text: str):
    return next(extract_texts(pipeline(), [(text, None)], gate=False))


def ents(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in extract(text).entities:
        out.setdefault(e.text, []).append(e)
    return out


def speaker_of(text: str, fragment: str):
    st = next(s for s in extract(text).statements if fragment in s.content.text)
    return st.speaker


def test_actor_data_is_consistent():
    actors = load_actors("actors.yaml")
    assert {"vladimir_putin", "hassan_rouhani", "bashar_al_assad", "sergey_lavrov", "mohammad_javad_zarif",
            "ali_shamkhani", "mohammad_ali_jafari", "staffan_de_mistura", "kremlin", "irgc", "isis",
            "jabhat_fateh_al_sham", "un_security_council", "irna", "tass", "sana", "reuters"} <= set(actors)
    for ref, aliases in actors.values():
        assert ref.name == aliases[0] and ref.id
        assert ref.country is None or (len(ref.country) == 2 and ref.country.isupper())
        assert ref.id.startswith(("Q", "newsmon:"))


def test_gazetteer_overrides_wrong_ner_labels():
    found = ents("Rouhani was quoted by IRNA. Daesh lost ground near Aleppo, and Palmyra was retaken.")
    assert (found["Rouhani"][0].label, found["Rouhani"][0].name, found["Rouhani"][0].country) == \
        ("PERSON", "Hassan Rouhani", "IR")
    assert (found["Daesh"][0].label, found["Daesh"][0].name, found["Daesh"][0].type) == ("ORG", "ISIS", "armed_group")
    assert (found["IRNA"][0].type, found["IRNA"][0].country) == ("news_agency", "IR")
    for place in ("Aleppo", "Palmyra"):
        e = found[place][0]
        assert e.label == "GPE" and e.country == "SY" and e.lat is not None and e.lon is not None


def test_places_capitals_and_demonyms_give_countries():
    found = ents("Moscow and Tehran backed the Syrian government. An Iranian official visited Washington.")
    assert (found["Moscow"][0].country, found["Moscow"][0].type) == ("RU", "capital")
    assert found["Tehran"][0].country == "IR"
    assert (found["Syrian"][0].label, found["Syrian"][0].country, found["Syrian"][0].name) == ("NORP", "SY", "Syria")
    assert found["Iranian"][0].country == "IR"
    assert found["Washington"][0].country == "US"


def test_name_variants_in_one_article_are_one_entity():
    text = ("Hassan Rouhani spoke on Monday. Rouhani said the talks went well. President Rouhani added more. "
            "Dr Rouhani left. A local official, Michael Brennan, said the talks went well. Brennan left.")
    found = ents(text)
    names = {e.name for key in ("Hassan Rouhani", "Rouhani", "Dr Rouhani") if key in found for e in found[key]}
    assert names == {"Hassan Rouhani"}
    unknown = {e.name for key in found if "Brennan" in key for e in found[key]}
    assert unknown == {"Michael Brennan"}


def test_speakers_resolve_titles_roles_and_pronouns():
    text = ("Iranian President Hassan Rouhani met his Russian counterpart. "
            "\"We will continue,\" the Iranian president said. "
            "\"Our position is firm,\" said the Russian president. "
            "Russia's top diplomat said that talks would go on. "
            "Maria Zakharova met reporters. She said that Moscow was ready. "
            "Rouhani praised the deal. He said that Iran was satisfied.")
    assert speaker_of(text, "We will continue").name == "Hassan Rouhani"
    assert speaker_of(text, "Our position is firm").name == "Vladimir Putin"
    assert speaker_of(text, "talks would go on").name == "Sergey Lavrov"
    assert speaker_of(text, "Moscow was ready").name == "Maria Zakharova"
    assert speaker_of(text, "Iran was satisfied").name == "Hassan Rouhani"


def test_unresolvable_speakers_stay_unresolved():
    text = "The President said that the economy was growing. Putin and Rouhani said that ties were strong."
    first = speaker_of(text, "the economy was growing")
    assert first.text == "The President" and first.name is None  # no president named before
    joint = speaker_of(text, "ties were strong")
    assert joint.name is None  # two speakers, not one


def test_article_records():
    published = datetime(2016, 12, 25, 9, 0, tzinfo=timezone.utc)
    raw = RawArticle(id="a1", feed="mehr", url="http://127.0.0.1/a1", title="Putin and Rouhani talk",
                     content="Putin said on Saturday that Russia would help Syria. Fighting went on in Aleppo.",
                     published=published)
    article, statements, events = extract_article(pipeline(), raw)
    assert article.timestamp == published and article.relevant
    assert article.countries[0] in ("RU", "SY") and set(article.countries) <= {"RU", "SY", "IR"}
    assert {"Vladimir Putin", "Hassan Rouhani", "Aleppo"} <= set(article.entity_names)
    assert "Vladimir Putin" in article.persons and "Aleppo" in article.places
    assert any(abs(loc["lat"] - 36.2) < 0.1 for loc in article.locations)
    st = statements[0]
    text = raw.text
    assert text[st.content.start:st.content.end] == st.content.text
    assert st.id == stable_id("a1", "statement", st.content.start, st.content.end)
    assert (st.article_id, st.feed, st.sources, st.speaker.name) == ("a1", "mehr", ["mehr"], "Vladimir Putin")
    assert "RU" in st.countries and "SY" in st.countries
    assert st.model_dump(by_alias=True)["@timestamp"] == published
    assert article.statement_count == len(statements) and article.event_count == len(events)
    again = extract_articles(pipeline(), [raw, raw.model_copy(update={"id": "a2"})])
    assert [s.id for s in again[0][1]] == [s.id for s in statements]
    assert again[1][1][0].id != st.id


def test_irrelevant_article_keeps_basic_fields():
    raw = RawArticle(id="b1", feed="f", url="http://127.0.0.1/b1", title="Local vote",
                     content="The mayor of Springfield said the vote was close.")
    article, statements, events = extract_article(pipeline(), raw)
    assert (article.relevant, statements, events, article.title) == (False, [], [], "Local vote")
    assert article.timestamp == raw.fetched


@pytest.mark.parametrize("bad", [None, 42])
def test_non_text_input_is_a_clear_error(bad):
    with pytest.raises(TypeError, match="str"):
        list(extract_texts(pipeline(), [(bad, None)]))


def test_surname_joins_a_gazetteer_actor_and_pronoun_follows_the_last_speaker():
    text = ("Hillary Clinton said that Russia hacked the party. Clinton spoke on Fox News Sunday, "
            "with Chris Wallace. \"We know that,\" she said.")
    found = ents(text)
    assert found["Clinton"][0].name == "Hillary Clinton"
    she = speaker_of(text, "We know that")
    assert (she.text, she.name) == ("she", "Hillary Clinton")


def test_unknown_speaker_takes_the_country_of_the_mention():
    text = "A Syrian opposition spokesman, Ahmad Ramadan, said that Russia was bombing Idlib."
    sp = speaker_of(text, "Russia was bombing Idlib")
    assert (sp.name, sp.id, sp.country) == ("Ahmad Ramadan", None, "SY")
    st = next(s for s in extract(text).statements if s.speaker is sp or s.speaker == sp)
    assert st.about == ["Russia", "RU", "Idlib", "SY"]


def test_actor_alias_inside_a_longer_organisation_stays_part_of_it():
    found = ents("The Russian Security Council met. The United Nations Security Council voted.")
    council = found["The Russian Security Council"][0]
    assert (council.label, council.name, council.country) == ("ORG", "Russian Security Council", "RU")
    assert found["United Nations Security Council"][0].name == "UN Security Council"


def test_curly_apostrophes_and_upper_case_datelines():
    found = ents("WASHINGTON - Russia’s Foreign Ministry said so.")
    assert found["Russia’s Foreign Ministry"][0].name == "Russian Foreign Ministry"
    assert "WASHINGTON" not in found  # a dateline is where the wire filed from, blanked before extraction


@pytest.mark.parametrize("published,name", [(date(2010, 5, 1), "Mahmoud Ahmadinejad"),
                                            (date(2016, 12, 1), "Hassan Rouhani"),
                                            (date(2025, 3, 1), "Masoud Pezeshkian")])
def test_role_holder_on_the_publication_date(published, name):
    text = "The Iranian president said that talks would go on."
    st = next(extract_texts(pipeline(), [(text, published)], gate=False)).statements[0]
    assert (st.speaker.text, st.speaker.name) == ("The Iranian president", name)


def test_role_descriptions_are_entities_of_the_role_holder():
    text = ("Hassan Rouhani met Russia's top diplomat on Monday. The Iranian president later called "
            "the President of Russia. The foreign ministry spokesman said nothing.")
    found = {e.text: e for e in next(extract_texts(pipeline(), [(text, date(2016, 12, 25))], gate=False)).entities}
    assert (found["The Iranian president"].label, found["The Iranian president"].name) == ("PERSON", "Hassan Rouhani")
    assert found["Russia's top diplomat"].name == "Sergey Lavrov"
    assert found["the President of Russia"].name == "Vladimir Putin"
    assert not [e for e in found if "spokesman" in e]  # no country named: not resolved


def test_lookup_names_resolve_only_what_ner_tagged():
    from newsmon.processors.extraction.places import place_index

    index = place_index()
    assert (index.lookup("Fla.").name, index.lookup("Fla.").country) == ("Florida", "US")
    assert (index.lookup("Kiev").name, index.lookup("Kiev").country) == ("Kyiv", "UA")
    assert index.lookup("the Middle East").lat is None  # a region, no misleading point
    assert index.lookup("Georgia") is None  # the country or the US state: ambiguous


def test_watchlist_city_names_do_not_override_people():
    found = ents("Friedrich Engels wrote about Russia. Homs and Hama were shelled.")
    assert (found["Friedrich Engels"][0].label, found["Friedrich Engels"][0].country) == ("PERSON", None)
    assert [(found[c][0].label, found[c][0].country) for c in ("Homs", "Hama")] == [("GPE", "SY"), ("GPE", "SY")]
