"""Articles in the desk's other languages: detected, never parsed by the English model, extracted by the
rule-based pipelines of their language (same actors and ids as in English), or marked unsupported."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsmon.cli import app

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
def test_putin_on_syria_in_other_languages_is_extracted_as_in_english(text, lang):
    ex, = extract_texts(pipeline(), [(text, None, None)])
    assert (ex.language, ex.analysis, ex.model) == (lang, "parsed", f"{lang}_newsmon_rules-1.0")
    assert ex.relevant and {"RU", "SY"} <= set(ex.countries)
    putin = {(e.name, e.id, e.country) for e in ex.entities if e.label == "PERSON"}
    assert ("Vladimir Putin", "Q7747", "RU") in putin
    assert {e.name for e in ex.entities if e.label == "GPE"} >= {"Russia", "Syria", "Damascus"}
    direct = [s for s in ex.statements if s.kind == "direct"]
    assert len(direct) == 1 and direct[0].speaker.id == "Q7747" and direct[0].speaker.name == "Vladimir Putin"
    assert "SY" in direct[0].about and ex.events == []  # no event rules in these languages


@pytest.mark.parametrize("text, speaker, names", [
    ("Лавров позвонил Зарифу\nГлава МИД России Сергей Лавров провёл телефонный разговор с Зарифом. "
     "«Мы обсудили положение в Сирии», — сообщил Лавров.", "Sergey Lavrov",
     {"Sergey Lavrov", "Mohammad Javad Zarif", "Russian Foreign Ministry", "Syria"}),
    ("Встреча в Дамаске\nПрезидент Сирии Башар Асад принял в Дамаске делегацию. «Мы благодарны "
     "Тегерану и Москве за помощь», — заявил Асад.", "Bashar al-Assad",
     {"Bashar al-Assad", "Syria", "Damascus", "Tehran", "Moscow"}),
    ("ظریف در دمشق\nمحمدجواد ظریف در دیدار با بشار اسد در دمشق گفت: «ایران در کنار مردم سوریه می‌ماند.»",
     "Mohammad Javad Zarif", {"Mohammad Javad Zarif", "Bashar al-Assad", "Damascus", "Iran", "Syria"}),
    ("خامنه‌ای: آمریکا در سوریه شکست خورد\nآیت‌الله خامنه‌ای روز چهارشنبه در تهران گفت: "
     "«سیاست‌های آمریکا در منطقه شکست خورده است.»", "Ali Khamenei", {"Ali Khamenei", "Tehran", "United States"}),
    ("روحاني يستقبل لافروف\nاستقبل الرئيس الإيراني حسن روحاني في طهران وزير الخارجية الروسي سيرغي لافروف. "
     "وقال لافروف: «نحن نقدر دور إيران في سوريا».", "Sergey Lavrov",
     {"Hassan Rouhani", "Tehran", "Sergey Lavrov", "Iran", "Syria"}),
    ("الأسد يستقبل وفدا إيرانيا\nقال وزير الخارجية الإيراني في دمشق: «نقف مع سوريا وبالأسد حتى النهاية».",
     "Mohammad Javad Zarif", {"Mohammad Javad Zarif", "Damascus", "Syria", "Bashar al-Assad"}),
])
def test_other_watchlist_actors_inflected_names_and_titles(text, speaker, names):
    ex, = extract_texts(pipeline(), [(text, date(2018, 5, 1), None)], gate=False)
    assert names <= {e.name for e in ex.entities}
    assert [s.speaker.name for s in ex.statements if s.kind == "direct"] == [speaker]


def test_pronoun_and_subjectless_cues_take_the_previous_speaker():
    text = ("Переговоры в Москве\n«Мы готовы к диалогу», — сказал Сергей Лавров. Он добавил: «Решение должно "
            "быть политическим».")
    arabic = "بوتين في دمشق\nوقال بوتين: «سندعم سوريا». وأضاف: «الحل سياسي في النهاية»."
    for ex in extract_texts(pipeline(), [(text, None), (arabic, None)], gate=False):
        speakers = [s.speaker.name if s.speaker else None for s in ex.statements if s.kind == "direct"]
        assert len(speakers) == 2 and len(set(speakers)) == 1 and speakers[0] in ("Sergey Lavrov", "Vladimir Putin")


def test_a_quoted_name_without_a_cue_is_no_statement():
    ex, = extract_texts(pipeline(), [("Компания «Роснефть» и Россия\nКомпания «Роснефть» открыла офис в "
                                      "Москве, где работают сотни человек.", None)], gate=False)
    assert ex.statements == [] and "RU" in ex.countries


def test_unsupported_language_without_watchlist_names_is_kept_and_marked():
    english = "Russian President Vladimir Putin said on Monday that Moscow would keep supporting Damascus."
    out = list(extract_texts(pipeline(), [(DE, None), (english, None)], gate=False))
    assert [(ex.language, ex.analysis) for ex in out] == [("de", "unsupported_language"), ("en", "parsed")]
    assert not out[0].relevant and out[1].model.startswith("en_")
    assert out[0].model is None and out[0].entities == [] and out[0].statements == []


def test_unsupported_language_naming_the_watchlist_is_relevant_but_not_analysed():
    german = ("Putin empfängt Assad in Moskau\n\nDer russische Präsident Wladimir Putin hat den syrischen "
              "Präsidenten Baschar al-Assad in Moskau empfangen. Beide sprachen über die Lage in Syrien.")
    ex, = extract_texts(pipeline(), [(german, None)])
    assert (ex.language, ex.analysis, ex.model) == ("de", "unsupported_language", None)
    assert ex.relevant and "RU" in ex.countries  # the English watchlist names, never the English model


def test_article_records_say_language_and_model():
    now = datetime(2024, 5, 1, tzinfo=UTC)
    raws = [RawArticle(id="ru1", feed="tass", url="https://example.org/ru1", title=RU.split("\n")[0],
                       content=RU.split("\n\n", 1)[1], language="en", fetched=now)]
    (article, statements, events), = extract_articles(pipeline(), raws)
    assert (article.language, article.declared_language, article.analysis) == ("ru", "en", "parsed")
    assert article.relevant and {"RU", "SY"} <= set(article.countries) and events == []
    assert "Vladimir Putin" in article.persons and "Damascus" in article.places
    assert [(s.speaker.name, s.countries) for s in statements] == [("Vladimir Putin", ["SY", "RU"])]


ARTICLES = Path(__file__).parent / "data" / "languages" / "articles"


def test_extract_json_on_the_three_articles():
    paths = sorted(ARTICLES.glob("putin_syria_*.txt"))
    res = CliRunner().invoke(app, ["extract", "--json", *map(str, paths)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert [line["language"] for line in lines] == ["ar", "fa", "ru"]
    for line in lines:
        assert line["relevant"] and {"RU", "SY"} <= set(line["countries"])
        assert any(s["kind"] == "direct" and s["speaker"]["id"] == "Q7747" for s in line["statements"])


def test_alerts_try_fires_the_putin_on_syria_rule_in_all_three(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: putin-on-syria\n    query: 'speaker.name:\"Vladimir Putin\" AND about:SY'\n")
    paths = sorted(ARTICLES.glob("putin_syria_*.txt"))
    res = CliRunner().invoke(app, ["alerts", "try", str(rules), *map(str, paths)], terminal_width=400)
    assert res.exit_code == 0, res.output
    fired = [ln for ln in res.output.splitlines() if ln.startswith("putin-on-syria ")]
    feeds = [ln.split("(")[1].split(")")[0] for ln in fired]  # the direct quote, and reported speech too
    assert set(feeds) == {"putin_syria_ar", "putin_syria_fa", "putin_syria_ru"}
    assert res.output.strip().endswith(f"{len(fired)} alerts from 3 files")
