"""The named readers the event, statement and speaker components are made of, one behaviour each.

The end-to-end tests (test_events, test_statements, test_entities) check whole articles; these pin
what each reader contributes, so a change to one shows where it is.
"""

from __future__ import annotations

from datetime import date

import pytest

from newsmon.processors.extraction.entities import ref_of
from newsmon.processors.extraction.events import clause_verb, nominal_roles, verbal_roles
from newsmon.processors.extraction.speakers import resolve_mention
from tests.extraction_support import pipeline


def parse(text: str, published: date = date(2017, 1, 10)):
    nlp = pipeline()
    doc = nlp.make_doc(text)
    doc._.published = published
    return nlp(doc)


def resolved(doc) -> dict[int, object]:
    return {i: e for e in doc.ents if ref_of(e) is not None for i in range(e.start, e.end)}


def roles_at(text: str, trigger: str):
    doc = parse(text)
    t = next(x for x in doc if x.text == trigger)
    verb = clause_verb(t)
    ents = resolved(doc)
    roles = verbal_roles(t, ents) if t.pos_ in ("VERB", "AUX") else nominal_roles(doc[t.i:t.i + 1], ents, verb)
    return verb, roles


def names(spans) -> list[str]:
    return [ref_of(e).name for e in spans]


# --- events -------------------------------------------------------------------------------------------

def test_passive_subject_is_the_target_and_the_agent_acts():
    verb, roles = roles_at("Syrian rebels were attacked by Russia in Aleppo.", "attacked")
    assert verb.text == "attacked"
    assert names(roles.actors) == ["Russia"] and roles.targets and not roles.described


def test_pronoun_subject_is_only_described():
    _, roles = roles_at("They condemned Turkey.", "condemned")
    assert roles.actors == [] and names(roles.targets) == ["Turkey"] and roles.described


def test_gerund_takes_the_owner_of_its_noun_and_its_object_as_place():
    _, roles = roles_at("Assad's success in recapturing Palmyra surprised many.", "recapturing")
    assert names(roles.actors) == ["Bashar al-Assad"] and roles.location.name == "Palmyra"


def test_noun_trigger_modifiers_name_actor_and_target():
    verb, roles = roles_at("Russian airstrikes on Aleppo killed dozens.", "airstrikes")
    assert verb.text == "killed"
    assert [e.text for e in roles.actors] == ["Russian"] and [e.text for e in roles.targets] == ["Aleppo"]


def test_noun_trigger_takes_the_subject_and_targets_of_its_verb():
    verb, roles = roles_at("Russia carried out airstrikes on positions of Daesh.", "airstrikes")
    assert verb.text == "carried"
    assert names(roles.actors) == ["Russia"] and [e.text for e in roles.targets] == ["Daesh"]


def test_noun_in_a_phrase_of_another_clause_has_no_clause_verb():
    verb, roles = roles_at("During the phone conversation, Rouhani referred to the talks.", "conversation")
    assert verb is None and roles.actors == [] and roles.targets == []


def noun_roles(text: str, trigger: str, **undergoer):
    doc = parse(text)
    t = next(x for x in doc if x.text == trigger)
    return nominal_roles(doc[t.i:t.i + 1], resolved(doc), clause_verb(t), **undergoer)


def test_possessor_acts_and_of_phrase_undergoes_when_both_are_there():
    roles = noun_roles("Tehran's support of the Assad government is unwavering.", "support")
    assert names(roles.actors) == ["Tehran"] and names(roles.targets) == ["Bashar al-Assad"]


def test_lone_possessor_or_of_phrase_undergoes_when_the_noun_says_so():
    roles = noun_roles("Hezbollah's assassination stunned Beirut.", "assassination", possessor_undergoes=True)
    assert roles.actors == [] and names(roles.targets) == ["Hezbollah"]
    roles = noun_roles("The assassination of the Iranian envoy stunned Beirut.", "assassination", of_undergoes=True)
    assert roles.actors == [] and names(roles.targets) == ["Iran"]
    roles = noun_roles("The offensive of the Syrian army stunned Beirut.", "offensive")
    assert names(roles.actors) == ["Syrian Arab Army"]


def test_capital_naming_a_noun_trigger_is_its_place():
    roles = noun_roles("The Tehran bombing killed dozens.", "bombing")
    assert roles.actors == [] and roles.location.name == "Tehran"


def test_places_in_location_phrases_are_not_participants():
    _, roles = roles_at("Gunmen attacked a Hezbollah convoy near Damascus.", "attacked")
    assert names(roles.targets) == ["Hezbollah"]


def test_subject_through_raising_and_object_control():
    _, roles = roles_at("Rouhani is due to visit Ankara.", "visit")
    assert names(roles.actors) == ["Hassan Rouhani"] and names(roles.targets) == ["Ankara"]
    _, roles = roles_at("Lavrov is expected to meet Zarif.", "meet")
    assert names(roles.actors) == ["Sergey Lavrov"] and names(roles.targets) == ["Mohammad Javad Zarif"]
    _, roles = roles_at("Moscow accused Washington of arming the rebels.", "arming")
    assert names(roles.actors) == ["Washington"]
    _, roles = roles_at("Iran was accused of supplying Hezbollah.", "supplying")
    assert names(roles.actors) == ["Iran"] and names(roles.targets) == ["Hezbollah"]


def test_light_verb_object_of_takes_the_verb_and_its_dative():
    verb, roles = roles_at("Erdogan sent a message of sympathy to Rouhani.", "sympathy")
    assert verb.text == "sent"
    assert names(roles.actors) == ["Recep Tayyip Erdoğan"] and names(roles.targets) == ["Hassan Rouhani"]


def test_governing_verb_decides_what_its_subject_is_to_a_noun_trigger():
    _, roles = roles_at("Iran imposed sanctions on Hezbollah.", "sanctions")  # acts
    assert names(roles.actors) == ["Iran"] and names(roles.targets) == ["Hezbollah"]
    _, roles = roles_at("Assad received support from Tehran.", "support")  # undergoes
    assert names(roles.actors) == ["Tehran"] and names(roles.targets) == ["Bashar al-Assad"]
    _, roles = roles_at("Rouhani recalled the assassination.", "assassination")  # a topic only
    assert roles.actors == [] and roles.targets == [] and not roles.described


def test_object_of_a_talking_verb_is_its_topic():
    doc = parse("Putin discussed Syria with Erdogan.")
    t = next(x for x in doc if x.text == "discussed")
    roles = verbal_roles(t, resolved(doc), object_is_topic=True)
    assert names(roles.actors) == ["Vladimir Putin"] and names(roles.targets) == ["Recep Tayyip Erdoğan"]


# --- direct quotes ------------------------------------------------------------------------------------

def statements(text: str):
    doc = parse(text)
    return [(st, st.text(doc)) for st in doc._.statements]


def test_quoted_words_inside_reported_speech_are_part_of_it():
    (st, text), = statements('The minister said he was "optimistic" about the talks.')
    assert (st.kind, text, st.speaker.text) == ("indirect", 'he was "optimistic" about the talks', "The minister")
    assert len(st.quotes) == 1


def test_a_following_quote_without_cue_continues_the_speaker():
    sts = statements('"We will respond to every provocation," Putin said on Monday.\n'
                     '"The West will regret these sanctions for many years to come."')
    assert [(st.kind, st.speaker.text, st.continued) for st, _ in sts] == [("direct", "Putin", False),
                                                                           ("direct", "Putin", True)]


def test_short_unattributed_quotes_are_not_statements():
    assert statements('The so-called "peace plan" failed.') == []


def test_long_unattributed_quote_is_kept_without_speaker():
    (st, text), = statements('Lavrov arrived in Damascus. "We will stand by Syria until the very end of this war."')
    assert st.kind == "direct" and st.speaker is None and text.startswith("We will stand by Syria")


# --- speakers -----------------------------------------------------------------------------------------

def speaker(text: str):
    doc = parse(text)
    st = doc._.extracted_statements[-1]
    return st.speaker.name if st.speaker else None


@pytest.mark.parametrize("text, name", [
    ("Russian Foreign Minister Sergei Lavrov said the talks were useful.", "Sergey Lavrov"),  # named in the mention
    ("The Russian president said the talks were useful.", "Vladimir Putin"),  # role held on the date
    ("Moscow said the talks were useful.", "Moscow"),  # a capital heading the mention
    ("Putin and Rouhani said the talks were useful.", None),  # several speakers
    ("Putin met Rouhani on Monday. He said the talks were useful.", "Hassan Rouhani"),  # latest male person
])
def test_speaker_mentions_resolve(text, name):
    assert speaker(text) == name


def test_pronoun_keeps_the_previous_speaker():
    doc = parse('"We will respond," Putin told Rouhani. He said the talks were useful.')
    first, second = doc._.extracted_statements
    assert first.speaker.name == "Vladimir Putin" and second.speaker.text == "He"
    assert second.speaker.name == "Vladimir Putin"


def test_resolve_mention_skips_quoted_names():
    doc = parse('"Assad must go," he said.')
    st, = doc._.statements
    assert resolve_mention(st.speaker, skip=[st.content]) is None
