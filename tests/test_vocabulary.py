"""`alerts check` and `search` point out terms no record can hold and suggest what was meant; `search`
refuses an unknown field as `alerts check` does, before looking for a stack."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from newsmon.alerts.query import compile_query, fields_for
from newsmon.cli import app
from newsmon.vocabulary import review

runner = CliRunner()


def findings(query: str, kind: str = "statements") -> dict[str, tuple[bool, str]]:
    fields = fields_for(kind)
    return {f"{f.field}:{f.value}": (f.warning, f.message) for f in review(compile_query(query, fields), fields)}


def test_a_spelling_the_gazetteer_knows_matches_and_is_only_noted():
    got = findings('speaker.name:"Sergei Lavrov" OR speaker.name:Lavrov OR speaker.name:"sergey lavrov"')
    assert set(got) == {"speaker.name:Sergei Lavrov", "speaker.name:Lavrov"}  # the canonical name: nothing
    assert all(not warning and "'Sergey Lavrov'" in message for warning, message in got.values())


def test_a_spelling_in_a_field_without_copied_spellings_is_a_warning_with_the_canonical_name():
    warning, message = findings("persons:Lavrov", "articles")["persons:Lavrov"]
    assert warning and "did you mean 'Sergey Lavrov'?" in message


def test_a_misspelt_name_is_a_warning_and_an_unknown_one_a_note():
    got = findings('speaker.name:"Sergej Lavrov" OR speaker.name:"Jane Doe"')
    assert got["speaker.name:Sergej Lavrov"][0] and "did you mean 'Sergey Lavrov'?" in got["speaker.name:Sergej Lavrov"][1]
    assert not got["speaker.name:Jane Doe"][0]


def test_country_codes_in_any_case_pass_and_others_are_warnings_with_the_code():
    got = findings("speaker.country:ru AND countries:Sy AND about:ir AND countries:RUS AND speaker.country:Iran")
    assert set(got) == {"countries:RUS", "speaker.country:Iran"}
    assert "did you mean 'RU'?" in got["countries:RUS"][1] and "did you mean 'IR'?" in got["speaker.country:Iran"][1]


def test_wildcards_and_free_text_are_not_judged():
    assert findings("speaker.name:Lav* AND content.text:lavrov AND lavrov") == {}


def test_alerts_check_prints_the_warnings_and_still_accepts_the_file(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: r\n    query: 'speaker.name:\"Sergei Lavrov\" AND countries:RUS'\n")
    res = runner.invoke(app, ["alerts", "check", str(rules)])
    assert res.exit_code == 0
    assert "note: rule 'r': speaker.name:'Sergei Lavrov'" in res.output
    assert "warning: rule 'r': countries:'RUS'" in res.output and "did you mean 'RU'?" in res.output
    assert "OK 1 rules" in res.output and "1 warnings" in res.output


def test_search_refuses_an_unknown_field_as_alerts_check_does(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NEWSMON_DATA_DIR": str(tmp_path / "data")}
    res = subprocess.run([sys.executable, "-m", "newsmon", "search", "speakr.name:x"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2  # a usage error, before any stack is looked for
    assert "unknown field 'speakr.name'; did you mean 'speaker.name'?" in res.stderr
    assert "no stack running" not in res.stderr
