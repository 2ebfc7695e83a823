"""Events: ontology, triggers, actors/targets, location and dates."""

from __future__ import annotations

from datetime import date

from newsmon.processors.extraction import extract_texts
from newsmon.processors.extraction.events import load_ontology
from tests.extraction_support import pipeline

PUB = date(2016, 12, 25)  # a Sunday


def events(text: str, published: date | None = PUB):
    return next(extract_texts(pipeline(), [(text, published)], gate=False)).events


def one(text: str, kind: str):
    found = [ev for ev in events(text) if ev.type == kind]
    assert found, (kind, [(ev.type, ev.trigger.text) for ev in events(text)])
    return found[0]


def test_ontology_covers_the_required_types():
    onto = load_ontology()
    assert {"consult", "negotiate", "agree", "support", "assault", "ceasefire", "condemn", "condolence"} <= set(onto)
    for t in onto.values():
        assert t.plover and t.cameo and t.triggers and t.doc


def test_assault_with_actor_target_place_and_date():
    ev = one("Russian warplanes carried out airstrikes on Daesh positions in Raqqa on Friday.", "assault")
    assert ev.trigger.text == "airstrikes"
    assert [a.country for a in ev.actors] == ["RU"]
    assert [t.name for t in ev.targets] == ["ISIS"]
    assert ev.location.name == "Raqqa" and ev.location.country == "SY" and ev.location.lat is not None
    assert ev.date == date(2016, 12, 23)
    assert ev.countries[:2] == ["RU", "SY"]


def test_consult_between_named_people():
    ev = one("Mohammad Javad Zarif and Sergei Lavrov held a phone call on Saturday.", "consult")
    assert {a.name for a in ev.actors} == {"Mohammad Javad Zarif", "Sergey Lavrov"}
    assert ev.date == date(2016, 12, 24) and set(ev.countries) == {"IR", "RU"}


def test_ceasefire_condemn_condolence_support():
    assert one("Turkey and Russia brokered a ceasefire in Syria on Thursday.", "ceasefire").location.name == "Syria"
    condemn = one("Lavrov condemned the attack on the embassy.", "condemn")
    assert [a.name for a in condemn.actors] == ["Sergey Lavrov"]
    condolence = one("Putin expressed his condolences to Erdogan.", "condolence")
    assert [a.name for a in condolence.actors] == ["Vladimir Putin"]
    support = one("Iran and Russia support the Syrian government.", "support")
    assert {a.name for a in support.actors} == {"Iran", "Russia"}


def test_described_actors_take_the_previous_event_and_mentions_merge():
    text = ("Vladimir Putin and Hassan Rouhani agreed on closer contacts on Monday. "
            "The presidents discussed Syria over a phone call. No details of the conversation were given.")
    consults = [ev for ev in events(text) if ev.type == "consult"]
    assert len(consults) == 1
    assert {a.name for a in consults[0].actors} == {"Vladimir Putin", "Hassan Rouhani"}


def test_triggers_inside_direct_quotes_are_not_events():
    text = '"We will attack the terrorists everywhere," Assad said.'
    assert not [ev for ev in events(text) if ev.type == "assault"]


def test_dates_need_a_publication_date_unless_explicit():
    assert one("Lavrov met Zarif on Monday in Moscow.", "consult").date == date(2016, 12, 19)
    undated = [ev for ev in events("Lavrov met Zarif on Monday in Moscow.", None) if ev.type == "consult"]
    assert undated and undated[0].date is None and undated[0].location.name == "Moscow"
    assert one("Lavrov met Zarif on March 3, 2016.", "consult").date == date(2016, 3, 3)


def test_possessor_of_the_noun_is_the_actor_of_its_verb():
    ev = one("Assad's success in recapturing Palmyra from ISIS was praised.", "assault")
    assert [a.name for a in ev.actors] == ["Bashar al-Assad"]
    assert ev.location.name == "Palmyra"


def test_possessive_and_nominal_triggers_name_who_acts():
    ev = one("The Iraqi army's offensive on Mosul began on Monday.", "assault")
    assert [a.country for a in ev.actors] == ["IQ"] and ev.date == date(2016, 12, 19)
    assert [a.name for a in one("Russia's nuclear deal with the United States expired.", "agree").actors] == ["Russia"]


def test_a_victim_in_a_possessive_is_a_target_not_the_actor():
    text = "Iran condemned the Turkish ambassador's assassination in Tehran on Friday."
    assassination = one(text, "assault")
    assert assassination.actors == [] and [t.country for t in assassination.targets] == ["TR"]
    condemn = one(text, "condemn")
    assert [a.name for a in condemn.actors] == ["Iran"] and condemn.targets == []  # Iran assassinated no one


def test_a_condemned_act_is_directed_at_its_actor():
    condemn = one("Moscow condemned the Israeli airstrike on Iranian forces.", "condemn")
    assert [t.country for t in condemn.targets] == ["IL"]
    assault = one("Moscow condemned the Israeli airstrike on Iranian forces.", "assault")
    assert [a.country for a in assault.actors] == ["IL"] and [t.country for t in assault.targets] == ["IR"]


def test_a_noun_naming_other_targets_is_another_event():
    text = "Russian jets attacked ISIS in Idlib on Monday. Rouhani recalled the assassination of Soleimani."
    assaults = [ev for ev in events(text) if ev.type == "assault"]
    assert len(assaults) == 2
    assert [t.name for t in assaults[1].targets] == ["Qasem Soleimani"] and assaults[1].actors == []


def test_a_date_in_a_nested_event_is_that_events():
    text = "Moscow blamed Kyiv for the assassination of a Russian general in Moscow on Friday."
    assert one(text, "assault").date == date(2016, 12, 23)
    assert one(text, "condemn").date is None  # "on Friday" hangs from the assassination


def test_events_naming_no_actor_are_not_one_event_for_that():
    text = "Hezbollah was attacked on Monday. Later, ISIS was bombed."
    assaults = [ev for ev in events(text) if ev.type == "assault"]
    assert [[t.name for t in ev.targets] for ev in assaults] == [["Hezbollah"], ["ISIS"]]
