"""The PolNeAR reference metric (`newsmon eval polnear`) on small constructed cases, numbers worked out by hand."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from newsmon.cli import app
from newsmon.processors.extraction.evaluate import (Counts, GoldAttribution, Predicted, load_polnear, parse_ann,
                                            score_document)


def gold(*pieces: tuple[int, int], source: tuple[int, int] | None = None, direct: bool = False) -> GoldAttribution:
    return GoldAttribution(content=tuple(pieces), source=(source,) if source else (), direct=direct)


def test_half_overlap_matches_and_speaker_attributes():
    # gold content 0-100 (100 chars), source 200-210; prediction covers 40-100 = 60 chars >= 50
    c = score_document([gold((0, 100), source=(200, 210))], [Predicted((40, 100), (205, 215))])
    assert (c.gold, c.predicted, c.matched, c.attributed) == (1, 1, 1, 1)


def test_less_than_half_does_not_match():
    c = score_document([gold((0, 100))], [Predicted((0, 49))])  # 49 < 50
    assert (c.matched, c.attributed) == (0, 0)
    c = score_document([gold((0, 100))], [Predicted((50, 300))])  # exactly half of the gold is enough
    assert c.matched == 1


def test_speaker_must_overlap_source():
    g = [gold((0, 100), source=(200, 210))]
    assert score_document(g, [Predicted((0, 100), (210, 220))]).attributed == 0  # touching is not overlapping
    assert score_document(g, [Predicted((0, 100), None)]).attributed == 0
    assert score_document([gold((0, 100))], [Predicted((0, 100), (0, 5))]).attributed == 0  # gold has no source


def test_one_to_one_greedy_by_largest_overlap():
    # X (0-200) overlaps A by 100 and B by 100; Y (120-200) overlaps B by 80.
    # Greedy: X-A (100, first gold) is taken, X-B skipped (X used), Y-B (80) taken: two matches.
    c = score_document([gold((0, 100)), gold((100, 200))], [Predicted((0, 200)), Predicted((120, 200))])
    assert c.matched == 2
    # two predictions for one gold: one matches, the other is a false positive
    c = score_document([gold((0, 100))], [Predicted((0, 100)), Predicted((0, 90))])
    assert (c.matched, c.predicted) == (1, 2)
    assert c.scores()["content_p"] == 0.5 and c.scores()["content_r"] == 1.0


def test_discontinuous_gold_is_the_set_of_its_pieces():
    g = [gold((0, 40), (60, 100))]  # 80 gold chars, 40 needed
    assert score_document(g, [Predicted((0, 45))]).matched == 1  # 40 of them
    assert score_document(g, [Predicted((35, 65))]).matched == 0  # 5 + 5: the gap between pieces does not count
    assert score_document(g, [Predicted((0, 100))]).matched == 1


def test_scores_and_direct_quote_recall():
    c = Counts(gold=4, predicted=5, matched=3, attributed=2, gold_direct=2, matched_direct=1, documents=1)
    s = c.scores()
    assert s["content_p"] == pytest.approx(0.6) and s["content_r"] == pytest.approx(0.75)
    assert s["content_f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)  # 0.6667
    assert s["attributed_p"] == pytest.approx(0.4) and s["attributed_r"] == pytest.approx(0.5)
    assert s["attributed_f1"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)  # 0.4444
    assert s["direct_quote_recall"] == pytest.approx(0.5)
    assert Counts().scores()["content_f1"] == 0.0  # nothing at all: zeros, not a division error


def test_counts_add_up_over_documents():
    total = Counts()
    total.add(score_document([gold((0, 10), direct=True)], [Predicted((0, 10))]))
    total.add(score_document([gold((0, 10), direct=True), gold((20, 30))], []))
    assert (total.documents, total.gold, total.predicted, total.matched) == (2, 3, 1, 1)
    assert total.scores()["direct_quote_recall"] == pytest.approx(0.5)


TEXT = 'Officials said the talks failed. "We will try again," Lavrov said. Iran, Russia and Syria met.'
ANN = "\n".join([
    "T1\tSource 0 9\tOfficials",
    "T2\tCue 10 14\tsaid",
    "T3\tContent 15 31\tthe talks failed",
    "T4\tAttribution 10 14\tsaid",
    "E1\tAttribution:T4 Content:T3 Cue:T2 Source:T1",
    "T5\tContent 33 51;52 53\t\"We will try again ,",
    "T6\tCue 61 65\tsaid",
    "T7\tSource 54 60\tLavrov",
    "T8\tAttribution 61 65\tsaid",
    "E2\tAttribution:T8 Content:T5 Cue:T6 Source:T7",
    "T9\tContent 67 93\tIran, Russia and Syria met",
    "T10\tCue 90 93\tmet",
    "E3\tAttribution-no-source:T10 Content:T9 Cue:T10",
    "#1\tAnnotatorNotes T9\ta note",
])


def test_parse_ann():
    g = parse_ann(ANN, TEXT)
    assert [x.content for x in g] == [((15, 31),), ((33, 51), (52, 53)), ((67, 93),)]
    assert [x.source for x in g] == [((0, 9),), ((54, 60),), ()]
    assert [x.direct for x in g] == [False, True, False]


@pytest.fixture
def corpus(tmp_path):
    split = tmp_path / "mini"
    (split / "text").mkdir(parents=True)
    (split / "attributions").mkdir()
    (split / "text" / "a.txt").write_text(TEXT, encoding="utf-8")
    (split / "attributions" / "a_0001.ann").write_text(ANN, encoding="utf-8")
    (split / "attributions" / "a_0002.ann").write_text("", encoding="utf-8")  # a second annotator: not used
    return tmp_path


def test_load_polnear_uses_the_first_annotation_file(corpus):
    docs = load_polnear(corpus, "mini")
    assert [(d.name, len(d.gold)) for d in docs] == [("a", 3)]
    with pytest.raises(FileNotFoundError):
        load_polnear(corpus, "missing")


def test_eval_command_json(corpus):
    result = CliRunner().invoke(app, ["eval", "polnear", "--root", str(corpus), "--split", "mini", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert (out["split"], out["documents"], out["gold"]) == ("mini", 1, 3)
    # the pipeline finds the reported statement and the quote, both with the annotated speaker
    assert out["matched"] >= 2 and out["attributed"] >= 2
    assert out["direct_quote_recall"] == 1.0


def test_eval_command_missing_split(corpus):
    result = CliRunner().invoke(app, ["eval", "polnear", "--root", str(corpus), "--split", "nope"])
    assert result.exit_code == 2


def test_discontinuous_pieces_in_any_order_and_second_content_arguments():
    # brat may list a span's pieces in any order, and an attribution may tie a second content (Content2)
    ann = "\n".join([
        "T1\tSource 54 60\tLavrov",
        "T2\tContent 52 53;33 51\t, \"We will try again",
        "T3\tCue 61 65\tsaid",
        "T4\tContent 67 71\tIran",
        "E1\tAttribution:T3 Content:T2 Cue:T3 Source:T1 Content2:T4",
    ])
    (g,) = parse_ann(ann, TEXT)
    assert g.content == ((33, 51), (52, 53), (67, 71)) and g.direct  # sorted: the first piece opens the quote
    # the metric reads the set of pieces: 22 gold characters, 11 needed, whatever the order in the file
    assert score_document([g], [Predicted((33, 45))]).matched == 1
    assert score_document([g], [Predicted((60, 71))]).matched == 0  # 4 characters of the gold


def test_a_prediction_covering_two_gold_contents_matches_one():
    # one prediction spanning two gold statements counts once: the other gold is missed
    c = score_document([gold((0, 50)), gold((50, 100))], [Predicted((0, 100))])
    assert (c.matched, c.gold, c.predicted) == (1, 2, 1)
    assert c.scores()["content_r"] == 0.5
