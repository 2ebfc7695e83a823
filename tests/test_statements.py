"""Statement detection (`newsmon_statements`): the seed articles and tricky constructions."""

from __future__ import annotations

import pytest

from newsmon.processors.extraction import load_pipeline
from newsmon.processors.extraction.statements import StatementFinder, StatementSpan, load_cues


@pytest.fixture(scope="module")
def nlp():
    nlp = load_pipeline()
    if "newsmon_statements" not in nlp.pipe_names:
        nlp.add_pipe("newsmon_statements")
    return nlp


def found(nlp, text: str) -> list[tuple[StatementSpan, str]]:
    doc = nlp(text)
    return [(st, st.text(doc)) for st in doc._.statements]


def one(statements, starts: str) -> StatementSpan:
    hits = [st for st, text in statements if text.startswith(starts)]
    assert len(hits) == 1, f"{starts!r}: {[t for _, t in statements]}"
    return hits[0]


def text_of(span) -> str | None:
    return span.text if span is not None else None


# --- seed articles --------------------------------------------------------------------------------------

def test_seed_000_quotes_via_outlets(nlp, seed_texts):
    sts = found(nlp, seed_texts["000"])
    rouhani = one(sts, "During the ceasefire, the political talks (among Syrian groups) should be accelerated")
    assert (rouhani.kind, text_of(rouhani.speaker), text_of(rouhani.cue)) == ("direct", "Rouhani", "quoted")
    assert text_of(rouhani.via) == "Iran’s state news agency IRNA"
    assert seed_texts["000"][slice(*rouhani.content)].endswith("fighting against terrorists in Syria")

    shamkhani = one(sts, "The Iranian government and armed forces will continue")
    assert (shamkhani.kind, text_of(shamkhani.speaker), text_of(shamkhani.via)) == \
        ("direct", "NSC Secretary Ali Shamkhani", "the Reuters")

    ansari = one(sts, "Iran’s support continues for the fight against terrorism")
    assert (ansari.kind, text_of(ansari.speaker), text_of(ansari.via)) == ("direct", "Ansari", "the Al Arabia")
    # the quote that follows without a new cue is his too: a second piece of the same statement
    assert len(ansari.pieces) == 2
    assert seed_texts["000"][slice(*ansari.pieces[1])].startswith("Syria will march forward strongly")


def test_seed_000_reported_according_to(nlp, seed_texts):
    sts = found(nlp, seed_texts["000"])
    jafari = one(sts, "the current situation in Syria is very good after the recapture of Palmyra")
    assert (jafari.kind, text_of(jafari.cue)) == ("indirect", "According to")
    assert text_of(jafari.speaker) == "Guards chief Major General Mohammad Ali Jafari"
    iranian = one(sts, "that to bring peace and resolve the Syrian conflict")
    assert (text_of(iranian.speaker), text_of(iranian.cue)) == ("The Iranian president", "said")


def test_seed_001_partial_quote_and_estimate(nlp, seed_texts):
    text = seed_texts["001"]
    sts = found(nlp, text)
    assad = one(sts, 'that he was "optimistic" about the upcoming peace negotiations in Astana')
    assert (assad.kind, text_of(assad.speaker), text_of(assad.cue)) == \
        ("indirect", "Syrian President Bashar al-Assad", "said")
    assert [text[s:e] for s, e in assad.quotes] == ["optimistic"]
    mistura = one(sts, "that more than 400,000 people had been killed")
    assert (text_of(mistura.speaker), text_of(mistura.cue)) == \
        ("UN Special Envoy for Syria Staffan de Mistura", "estimated")
    ministry = one(sts, "The two top diplomats continued the discussion")
    assert (ministry.kind, text_of(ministry.speaker)) == ("direct", "the Russian Foreign Ministry")


def test_seed_002_each_quote_to_its_mention(nlp, seed_texts):
    sts = found(nlp, seed_texts["002"])
    expected = {
        "This victory sent the message": "President Rouhani",
        "Along with this victory, political negotiations should begin": "President Rouhani",
        "Kazakhstan is a suitable place": "Dr Rouhani",
        "This move indicates that we should be extremely careful": "He",
        "Tehran and Moscow's consultation and cooperation": "the President of Russia",
        "The achievement of Moscow-Tehran constructive cooperation": "Putin",
        "We suggest that the peace process be started in Kazakhstan": "the Russian president",
    }
    for start, speaker in expected.items():
        st = one(sts, start)
        assert (st.kind, text_of(st.speaker)) == ("direct", speaker), start


# --- constructions --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["“We will respond,” the minister said.", '"We will respond," the minister said.',
                                  '"We will respond," said the minister.', "The minister said: “We will respond.”"])
def test_quote_marks_and_order(nlp, text):
    (st, content), = found(nlp, text)
    assert content.rstrip(".") == "We will respond"
    assert (st.kind, text_of(st.speaker).lower(), text_of(st.cue)) == ("direct", "the minister", "said")


def test_split_quote_is_one_statement(nlp):
    (st, content), = found(nlp, '"We will respond," the minister said, "and we will not stop."')
    assert content == "We will respond and we will not stop."
    assert len(st.pieces) == 2 and text_of(st.speaker) == "the minister"


def test_quote_over_paragraphs(nlp):
    text = ("“The first paragraph of the statement ends here.\n\n"
            "“The second paragraph closes it,” the spokesman told reporters.")
    (st, content), = found(nlp, text)
    assert content == "The first paragraph of the statement ends here. The second paragraph closes it"
    assert (text_of(st.speaker), text_of(st.addressee)) == ("the spokesman", "reporters")


def test_continuation_keeps_the_speaker(nlp):
    text = ('"The talks were useful," Lavrov said on Monday.\n\n'
            '"Moscow and Tehran will keep working together on a political settlement."')
    sts = found(nlp, text)
    second = one(sts, "Moscow and Tehran will keep working together")
    assert second.continued and second.cue is None and text_of(second.speaker) == "Lavrov"


def test_passive_quoted_by_outlet(nlp):
    (st, _), = found(nlp, '"The talks will continue," Lavrov was quoted by TASS as saying.')
    assert (text_of(st.speaker), text_of(st.via)) == ("Lavrov", "TASS")


def test_outlet_quoted_speaker(nlp):
    (st, _), = found(nlp, "“We will not retreat,” the Reuters quoted the general as saying.")
    assert (text_of(st.speaker), text_of(st.via)) == ("the general", "the Reuters")


def test_according_to_at_the_end(nlp):
    (st, content), = found(nlp, "The talks will resume on Monday, according to the foreign ministry.")
    assert content == "The talks will resume on Monday"
    assert (st.kind, text_of(st.speaker), text_of(st.cue)) == ("indirect", "the foreign ministry", "according to")


@pytest.mark.parametrize("cue", ["said", "stressed", "warned", "argued"])
def test_reported_speech(nlp, cue):
    (st, content), = found(nlp, f"The Iranian foreign minister {cue} that the sanctions would fail.")
    assert content == "that the sanctions would fail"
    assert (st.kind, text_of(st.speaker), text_of(st.cue)) == ("indirect", "The Iranian foreign minister", cue)


def test_dash_attribution(nlp):
    (st, content), = found(nlp, "“We need a ceasefire before the winter comes.” ― Jane Smith\n")
    assert content == "We need a ceasefire before the winter comes."
    assert text_of(st.speaker) == "Jane Smith"


def test_speaker_line(nlp):
    (st, content), = found(nlp, "Lavrov: Talks with Iran on Syria will continue next week\n\nMore text follows here.")
    assert content == "Talks with Iran on Syria will continue next week"
    assert text_of(st.speaker) == "Lavrov"


def test_no_statement_in_plain_narrative(nlp):
    assert found(nlp, "The weather was sunny in Moscow on Monday. Traffic was light.") == []


def test_scare_quotes_are_not_statements(nlp):
    assert found(nlp, 'The so-called "deal" was signed in Vienna on Tuesday.') == []


def test_quote_finder_on_raw_text():
    finder = StatementFinder(load_cues("cues.yaml", "frames.yaml"))
    text = "He said “a ‘big’ step” and then ''another one'' today.\n“Unclosed runs on\n“and on” here."
    quotes = [[text[s:e] for _, s, e, _ in q.segments] for q in finder.find_quotes(text)]
    assert quotes == [["a ‘big’ step"], ["another one"], ["Unclosed runs on", "and on"]]


@pytest.mark.parametrize("text", ["", '"', "“”", '""""', 'He said: "', "\n\n“\n”\n", "''", "― \n: x",
                                  "“" + "word " * 1200 + "” he said."])
def test_odd_text_gives_no_error(nlp, text):
    doc = nlp(text)
    assert isinstance(doc._.statements, list)
    for st in doc._.statements:
        assert 0 <= st.content[0] < st.content[1] <= len(text)


def test_partial_quote_as_its_own_statement(nlp):
    doc = nlp('The minister said he was "optimistic" about the talks.')
    finder = StatementFinder(load_cues("cues.yaml", "frames.yaml"), separate_partial_quotes=True)
    kinds = sorted((st.kind, st.text(doc), st.partial) for st in finder(doc)._.statements)
    assert kinds == [("direct", "optimistic", True), ("indirect", 'he was "optimistic" about the talks', False)]


def test_needs_a_parse():
    """The component declares what it reads: a pipeline without a parser before it fails when checked."""
    import spacy

    from newsmon.processors.extraction import check_pipeline

    blank = spacy.blank("en")
    blank.add_pipe("newsmon_statements")
    with pytest.raises(ValueError, match="newsmon_statements needs token.dep, token.lemma, doc.sents"):
        check_pipeline(blank)
    assert blank("")._.statements == []


def test_components_in_declared_order(nlp):
    """Every newsmon component finds what it requires assigned by one before it in the loaded pipeline."""
    from newsmon.processors.extraction import NEWSMON_PIPES, check_pipeline

    assert nlp.pipe_names[-len(NEWSMON_PIPES):] == list(NEWSMON_PIPES)
    assert check_pipeline(nlp) is nlp


def test_speaker_is_not_taken_across_a_paragraph_end(nlp):
    sts = found(nlp, "The Latest on the presidential race (all times EDT):\n\n3:30 p.m.\n\n"
                     "Donald Trump is encouraging his supporters to vote early in every state.")
    st = one(sts, "his supporters to vote early")  # the object belongs to what is encouraged
    assert text_of(st.speaker) == "Donald Trump"


def test_transcript_lines_are_statements_of_their_speakers(nlp):
    sts = found(nlp, '"WALLACE: So why would Trump even go down the road of bringing up that old story,\n\n'
                     '"PENCE: Well, the question really should be why the campaign invited him to the debate.\n\n'
                     '"WALLACE: Do you really see those two as equivalent, the owner and the guest?')
    assert [(text_of(st.speaker), text[:12]) for st, text in sts] == [
        ("WALLACE", "So why would"), ("PENCE", "Well, the qu"), ("WALLACE", "Do you reall")]


def test_want_reports_what_is_wanted(nlp):
    st = one(found(nlp, "Clinton wants the Senate to pass the bill before the summer recess."), "the Senate")
    assert (st.kind, text_of(st.speaker), text_of(st.cue)) == ("indirect", "Clinton", "wants")


@pytest.mark.parametrize("text, content, speaker", [
    # a second cue coordinated with the first, which the parser hung inside the first one's clause
    ("Roberts said Friday that she thinks the video should be released but said the question is the timing.",
     "the question is the timing", "Roberts"),
    # a participle after a comma goes on with the speaker of the cue before it, wherever the parser hung it
    ('"The American people do not agree with him," Sanders said, suggesting a few questions for the debate.',
     "a few questions for the debate", "Sanders"),
])
def test_speaker_of_a_cue_from_the_clause_above(nlp, text, content, speaker):
    st = one(found(nlp, text), content)
    assert text_of(st.speaker) == speaker


@pytest.mark.parametrize("cue", ["hopes", "hoped", "is hoping"])
def test_forms_the_model_lemmatizes_wrongly(nlp, cue):
    # the model's lemma of "hoping", "hoped" and "hopes" is "hop"
    st = one(found(nlp, f"The senator {cue} that the talks will succeed."), "that the talks will succeed")
    assert text_of(st.speaker) == "The senator"


def test_quote_after_a_noun_of_saying_and_a_colon(nlp):
    st = one(found(nlp, 'The mayor issued a statement: "We will appeal this ruling, and we will win."'), "We will appeal")
    assert (st.kind, text_of(st.speaker), text_of(st.cue)) == ("direct", "The mayor", "statement")


def test_a_headline_is_not_parsed_into_the_first_paragraph(nlp):
    doc = nlp("In Avoiding Tax, Trump Is Merely a Small Fry\n\nNot paying taxes ''makes me smart,'' Donald J. Trump "
              "said last week.")
    assert [s.text.strip() for s in doc.sents][:2] == ["In Avoiding Tax, Trump Is Merely a Small Fry",
                                                       "Not paying taxes ''makes me smart,'' Donald J. Trump said last week."]
    st = one([(st, st.text(doc)) for st in doc._.statements], "Not paying taxes")
    assert text_of(st.speaker) == "Donald J. Trump"


@pytest.mark.parametrize("text, speaker", [
    ("Smith, a longtime supporter of the trade agreement, spoke on Monday.", "Smith"),
    ("Jones is a vocal critic of the trade agreement.", "Jones"),
    ("Critics of the trade agreement gathered outside the building.", "Critics"),
])
def test_nouns_of_a_view_and_who_holds_it(nlp, text, speaker):
    st = one(found(nlp, text), "the trade agreement")
    assert text_of(st.speaker) == speaker


@pytest.mark.parametrize("text, content", [
    ("Warren mentioned the fake accounts as evidence that the bank pressured its workers.",
     "the fake accounts as evidence that the bank pressured its workers"),
    ("Clinton mentioned his remarks as examples of how he insulted women.",
     "his remarks as examples of how he insulted women"),
])
def test_an_object_runs_on_to_what_the_cue_calls_it(nlp, text, content):
    (st, found_content), = found(nlp, text)
    assert found_content == content


def test_a_clause_reports_the_poll_it_hangs_in_on(nlp):
    (st, content), = found(nlp, "In a CBS News poll released Sunday, Clinton leads Trump by six points.")
    assert content == "Clinton leads Trump by six points"
    assert (text_of(st.speaker), text_of(st.cue)) == ("a CBS News poll released Sunday", "In")
    assert found(nlp, "Clinton still leads in the polls.") == []


@pytest.mark.parametrize("text, content, speaker", [
    ("About three-quarters of Republicans support a temporary ban on Muslims entering the country.",
     "a temporary ban on Muslims entering the country", "About three-quarters of Republicans"),
    ("Thirty-nine percent of all Americans viewed the candidate favorably.", "the candidate favorably",
     "Thirty-nine percent of all Americans"),
    ("The senator believes in free trade with Mexico.", "free trade with Mexico", "The senator"),
    ("Most voters believe the allegations against the governor.", "the allegations against the governor",
     "Most voters"),
])
def test_whom_people_support_is_their_stance(nlp, text, content, speaker):
    (st, found_content), = found(nlp, text)
    assert (found_content, text_of(st.speaker)) == (content, speaker)
