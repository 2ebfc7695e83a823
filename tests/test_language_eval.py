"""`newsmon eval languages`: the hand-made Russian, Persian and Arabic articles, scored per language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsmon.cli import app
from newsmon.processors.extraction.evaluate_languages import LabelledArticle, load_articles, score_article
from newsmon.records import Entity, ExtractedStatement, Extraction, Span, Speaker

DATA = Path(__file__).parent / "data" / "languages"


def test_the_set_has_a_dozen_articles_per_language_and_each_quote_is_in_its_text():
    articles = load_articles(DATA)
    counts = {lang: sum(a.language == lang for a in articles) for lang in ("ru", "fa", "ar")}
    assert counts == {"ru": 12, "fa": 12, "ar": 12}
    assert all(a.text.find(q) >= 0 for a in articles for q, _ in a.quotes)
    assert sum(not a.relevant for a in articles) == 6


def test_scoring_counts_each_field():
    text = "Путин в Дамаске\n«Мы поможем», — заявил Путин."
    a = LabelledArticle(id="x", language="ru", text=text, published=None, entities=frozenset({"Vladimir Putin",
                        "Damascus"}), countries=frozenset({"RU", "SY"}), relevant=True,
                        quotes=(("Мы поможем", "Vladimir Putin"),))
    start = text.index("Мы")
    ex = Extraction(language="ru", relevant=True, countries=["SY"],
                    entities=[Entity(start=0, end=5, text="Путин", label="PERSON", name="Vladimir Putin"),
                              Entity(start=0, end=5, text="x", label="NORP", name="Russia")],
                    statements=[ExtractedStatement(content=Span(start=start, end=start + 10, text="Мы поможем"),
                                                   kind="direct", speaker=Speaker(start=0, end=1, text="x",
                                                                                  name="Sergey Lavrov"))])
    got = score_article(a, ex)
    assert got == {"language": (1, 1, 1), "entities": (1, 1, 2), "countries": (1, 1, 2), "relevance": (1, 1, 1),
                   "quotes": (1, 1, 1), "speakers": (0, 1, 1)}


@pytest.mark.parametrize("root, floor", [(DATA, 0.85), (DATA / "heldout", 0.6)])
def test_eval_languages_reports_each_language(root, floor):
    res = CliRunner().invoke(app, ["eval", "languages", "--root", str(root), "--json"])
    assert res.exit_code == 0, res.output
    scores = json.loads(res.output)
    assert sorted(scores) == ["ar", "fa", "ru"]
    for lang, fields in scores.items():
        assert fields["language"] == {"p": 1.0, "r": 1.0, "f1": 1.0}, lang
        for name in ("entities", "countries", "relevance", "quotes", "speakers"):
            assert fields[name]["p"] >= floor and fields[name]["r"] >= floor, (lang, name, fields[name])
