"""Articles in the desk's other languages: detected, never parsed by the English model, still relevant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsmon.processors.extraction import extract_articles, extract_texts
from newsmon.processors.extraction.language import decide_language, primary_subtag
from newsmon.processors.extraction.multilingual import foreign_names, normalise
from newsmon.records import RawArticle
from tests.extraction_support import pipeline

RU = ("Путин обсудил с Асадом ситуацию в Сирии\n\n"
      "Президент России Владимир Путин провёл в Кремле переговоры с президентом Сирии Башаром Асадом. "
      "«Мы продолжим поддерживать Дамаск», — заявил Путин журналистам после встречи.")
FA = ("پوتین: روسیه به حمایت از سوریه ادامه می‌دهد\n\n"
      "ولادیمیر پوتین، رئیس جمهوری روسیه، روز دوشنبه در مسکو گفت که کشورش به همکاری با دمشق ادامه خواهد داد. "
      "او افزود: «ما در کنار مردم سوریه هستیم.»")
AR = ("بوتين يؤكد دعم روسيا لسوريا\n\n"
      "أكد الرئيس الروسي فلاديمير بوتين اليوم في موسكو أن بلاده ستواصل دعم الحكومة السورية في دمشق. "
      "وقال بوتين: «سنبقى إلى جانب الشعب السوري».")
DE = ("Bundesregierung berät über Haushalt\n\n"
      "Die Bundesregierung hat am Montag in Berlin über den Haushalt für das kommende Jahr beraten. "
      "Der Finanzminister sagte, die Schuldenbremse werde eingehalten.")


@pytest.mark.parametrize("text, lang", [(RU, "ru"), (FA, "fa"), (AR, "ar"), (DE, "de"),
                                        ("Putin said Russia would keep supporting the government in Damascus.", "en")])
def test_language_is_detected_from_the_text(text, lang):
    assert decide_language(text, declared="en") == lang  # a wrong declaration does not win over a clear text


def test_declared_language_decides_for_short_text():
    assert decide_language("Путин", declared="ru-RU") == "ru"
    assert decide_language("Breaking", declared=None, default="en") == "en"
    assert primary_subtag("EN_gb") == "en" and primary_subtag(" ") is None


def test_normalisation_folds_script_variants():
    assert normalise("Ёлка") == normalise("елка")
    assert normalise("علي") == normalise("علی")  # Arabic and Persian yeh
    assert normalise("خامنه‌ای") == normalise("خامنهای")  # zero-width non-joiner
    assert normalise("ســوريا") == normalise("سوريا")  # tatweel
    assert normalise("أحمد") == normalise("احمد")  # hamza on alef


@pytest.mark.parametrize("text, country", [
    ("Переговоры с Путиным", "RU"), ("звонок Лаврову", "RU"), ("беседа с Зарифом", "IR"),
    ("встреча в Тегеране", "IR"), ("положение в Сирии", "SY"), ("وسوريا", "SY"), ("بالأسد", "SY"),
    ("دیدار در تهران", "IR"),
])
def test_inflected_and_cliticised_names_count(text, country):
    assert country in foreign_names(("IR", "RU", "SY")).mentions(text)


@pytest.mark.parametrize("text, lang", [(RU, "ru"), (FA, "fa"), (AR, "ar")])
def test_watchlist_articles_in_other_languages_are_relevant_and_marked(text, lang):
    ex, = extract_texts(pipeline(), [(text, None, None)])
    assert (ex.language, ex.analysis, ex.model) == (lang, "unsupported_language", None)
    assert ex.relevant and {"RU", "SY"} <= set(ex.countries)
    assert ex.entities == [] and ex.statements == []  # not run through the English model


def test_unsupported_language_without_watchlist_names_is_kept_and_marked():
    english = "Russian President Vladimir Putin said on Monday that Moscow would keep supporting Damascus."
    out = list(extract_texts(pipeline(), [(DE, None), (english, None)], gate=False))
    assert [(ex.language, ex.analysis) for ex in out] == [("de", "unsupported_language"), ("en", "parsed")]
    assert not out[0].relevant and out[1].model.startswith("en_")


def test_article_records_say_language_and_model():
    now = datetime(2024, 5, 1, tzinfo=UTC)
    raws = [RawArticle(id="ru1", feed="tass", url="https://example.org/ru1", title=RU.split("\n")[0],
                       content=RU.split("\n\n", 1)[1], language="en", fetched=now)]
    (article, statements, events), = extract_articles(pipeline(), raws)
    assert (article.language, article.declared_language, article.analysis) == ("ru", "en", "unsupported_language")
    assert article.relevant and {"RU", "SY"} <= set(article.countries) and statements == [] and events == []
