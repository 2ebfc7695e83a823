"""Lucene query-string rules compiled into predicates over record dicts, with Elasticsearch semantics.

A query is parsed once with luqum and compiled into a `Query`: a predicate over a `Doc` (a record
dict plus lazily built per-field values) and a set of *anchors* (tokens or keyword values at least
one of which a record must carry to match) that lets a `RuleSet` skip most rules cheaply.

Meaning, as Elasticsearch's `query_string` gives it on the index templates (`newsmon.indices`):

* `text` fields are analysed with the standard analyser (Unicode word tokens, lowercased); a term
  matches a token, a phrase matches consecutive tokens of one value, a term that analyses into
  several tokens matches any of them (default operator OR); wildcards `*`/`?` match one token,
  case-insensitively.
* `keyword` fields match the whole value exactly, wildcards over the whole value; through the field's
  normalizer when the template gives one (`lowercase` on names and country codes: `about:sy`, `speaker.name:
  "vladimir putin"`), applied to the values, the terms, wildcard patterns and range bounds alike; values
  longer than the mapping's `ignore_above` are not indexed and never match.
* a field also holds the values the template copies into it (`copy_to`): `speaker.name` holds the
  record's `speaker_aliases` too, the gazetteer's other spellings of the speaker.
* words separated by whitespace only are analysed as one text, as Elasticsearch's parser does (it does not
  split on whitespace): `about:(IR RU)` is the one keyword value "IR RU", `title:(iran russia)` the text
  "iran russia" (either token); a word followed by `AND`/`OR` starts no such run.
* numbers, dates and booleans match by value; ranges `[a TO b]`, `{a TO b}`, `>a`, `<=b` on numbers,
  dates (with date math: `now-7d/d`, `2017-01-01||+1M`; a bare date is the whole day, rounded as
  Elasticsearch rounds `gt`/`gte`/`lt`/`lte`), keywords (by code point) and text tokens.
* a bare term or phrase searches every field (`default_field: *`, as Elasticsearch and Kibana do by
  default) leniently: a field whose type cannot hold the value is skipped.
* `AND`/`OR`/`NOT`/`+`/`-` combine like Lucene's classic parser (a clause list of MUST/SHOULD/
  MUST_NOT clauses; a list with only negative clauses matches everything else), default operator OR;
  `field:(a OR b)` groups; `_exists_:field` and `field:*` test presence; boosts are ignored.

Fuzzy (`~`), proximity (`"a b"~2`) and regular-expression (`/re/`) queries are refused, as are
unknown fields and values that the field's type cannot hold (Elasticsearch would fail the search).
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser

from newsmon.indices import template

__all__ = ["QueryError", "FieldInfo", "Doc", "Query", "Term", "Analysis", "compile_query", "check_limits", "fields_for", "analyze", "KINDS",
           "wildcard_matcher"]

KINDS = ("statements", "events", "articles")
NUMERIC = {"integer", "long", "short", "byte", "float", "double", "half_float", "scaled_float", "unsigned_long"}
KEYWORD = {"keyword", "constant_keyword", "wildcard"}


class QueryError(ValueError):
    """A query that cannot be parsed or evaluated; `position` is the 0-based character offset."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


# Limits on what analysts may write: each refused query would otherwise exhaust the parser (nesting:
# RecursionError), the matcher (wildcards: backtracking for minutes) or the search server.
MAX_QUERY_CHARS = 10_000
MAX_DEPTH = 32  # nested parentheses, brackets and braces
MAX_WILDCARDS = 8  # `*` and `?` in one term


def check_limits(text: str) -> None:
    """Refuse a query over the limits before it is parsed; `newsmon search` applies the same check before
    sending. Raises `QueryError` at the offending position."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query is {len(text):,} characters long, the limit is {MAX_QUERY_CHARS:,}", MAX_QUERY_CHARS)
    depth, wild, term_start, quoted, escaped = 0, 0, 0, False, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif c in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise QueryError(f"nested deeper than {MAX_DEPTH} levels", i)
        elif c in ")]}":
            depth = max(0, depth - 1)
        if not quoted and not escaped and c in "*?":
            wild += 1
            if wild > MAX_WILDCARDS:
                raise QueryError(f"more than {MAX_WILDCARDS} wildcards in one term", term_start)
        elif c.isspace() or c in "()[]{}:":
            wild, term_start = 0, i + 1


# --- analysis -----------------------------------------------------------------------------------

_L = r"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]"  # letters (marks follow via \w)
_W = r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]"  # word characters, not ideographs / kana
_TOKEN = re.compile(
    rf"[\u3400-\u4dbf\u4e00-\u9fff\u3040-\u309f]"  # one ideograph / hiragana each
    rf"|[\u30a0-\u30ff]+"  # katakana runs
    rf"|{_W}+(?:(?:(?<={_L})[:·'’‘.](?={_L})|(?<=\d)[,;.'’‘](?=\d)){_W}+)*"  # UAX#29 words and numbers
)


def analyze(text: str) -> list[str]:
    """Tokens of `text` as the standard analyser makes them (UAX#29 words, lowercased)."""
    return [t.lower() for t in _TOKEN.findall(text)]


# Normalizers the engine reproduces: Elasticsearch's built-in `lowercase`, and custom ones made of the
# `lowercase`/`uppercase` filters. A template naming any other analyser or normalizer is refused when its
# fields are read, so the template and the engine cannot drift apart unnoticed.
_CASE: dict[str, Callable[[str], str]] = {"lowercase": str.lower, "uppercase": str.upper}


class Analysis:
    """The normalizers and analysers a template's fields name, as Elasticsearch applies them."""

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings

    def normalizer(self, name: str) -> Callable[[str], str]:
        spec = self.settings.get("normalizer", {}).get(name)
        if spec is None:
            if name in ("lowercase",):  # built in
                return _CASE[name]
            raise ValueError(f"unknown normalizer {name!r}")
        steps = []
        for fname in spec.get("filter", []):
            if fname not in _CASE:
                raise ValueError(f"normalizer {name!r}: unsupported filter {fname!r}")
            steps.append(_CASE[fname])

        def normalize(value: str) -> str:
            for step in steps:
                value = step(value)
            return value
        return normalize

    def analyzer(self, name: str) -> Callable[[str], list[str]]:
        if name != "standard":
            raise ValueError(f"unsupported analyzer {name!r}")
        return analyze


# --- fields -------------------------------------------------------------------------------------


def _identity(value: str) -> str:
    return value


@dataclass(frozen=True)
class FieldInfo:
    """A searchable field: its name, the record path it reads, its mapping type, and how its values are
    indexed: `tokens` (text: the field's analyser) and `normalize` (keyword: the field's normalizer)."""

    name: str
    source: tuple[str, ...]
    type: str
    ignore_above: int | None = None
    normalizer: str | None = None  # the template's normalizer (keyword fields), None: values as they are
    tokens: Callable[[str], list[str]] = field(default=analyze, compare=False, repr=False)
    normalize: Callable[[str], str] = field(default=_identity, compare=False, repr=False)
    copies: tuple[tuple[str, ...], ...] = ()  # record paths the template copies into this field (`copy_to`)


def _field(name: str, path: tuple[str, ...], spec: dict, analysis: Analysis,
           copies: tuple[tuple[str, ...], ...]) -> FieldInfo:
    ftype = spec.get("type", "keyword")
    if ftype == "text":
        return FieldInfo(name, path, ftype, spec.get("ignore_above"),
                         tokens=analysis.analyzer(spec.get("analyzer", "standard")), copies=copies)
    if ftype in KEYWORD and spec.get("normalizer"):
        return FieldInfo(name, path, ftype, spec.get("ignore_above"), spec["normalizer"],
                         normalize=analysis.normalizer(spec["normalizer"]), copies=copies)
    return FieldInfo(name, path, ftype, spec.get("ignore_above"), copies=copies)


def _copy_edges(props: dict, prefix: str, source: tuple[str, ...], out: dict[str, list[tuple[str, ...]]]) -> None:
    """`copy_to` of the mapping as target field -> the record paths copied into it. Only a field's own
    values are copied (Elasticsearch does not copy what was copied into a field any further)."""
    for key, spec in props.items():
        path = (*source, key)
        if "properties" in spec:
            _copy_edges(spec["properties"], f"{prefix}{key}.", path, out)
            continue
        targets = spec.get("copy_to") or []
        for target in [targets] if isinstance(targets, str) else targets:
            out.setdefault(target, []).append(path)


def _walk_mapping(props: dict, prefix: str, source: tuple[str, ...], analysis: Analysis,
                  edges: dict[str, list[tuple[str, ...]]]) -> Iterator[FieldInfo]:
    for key, spec in props.items():
        name = f"{prefix}{key}"
        path = (*source, key)
        if "properties" in spec:
            yield from _walk_mapping(spec["properties"], f"{name}.", path, analysis, edges)
            continue
        if spec.get("enabled") is False or spec.get("index") is False:
            continue
        ftype = spec.get("type", "object")
        if ftype == "object":
            continue
        copies = tuple(edges.get(name, ()))  # a copied value is indexed in the field and its sub-fields
        yield _field(name, path, spec, analysis, copies)
        for sub, subspec in spec.get("fields", {}).items():
            yield _field(f"{name}.{sub}", path, subspec, analysis, copies)


def mapping_fields(mapping: dict) -> dict[str, FieldInfo]:
    """Searchable fields of an index mapping (`{"properties": ...}` or a whole template, whose
    `settings.analysis` defines the analysers and normalizers the fields name)."""
    settings = mapping.get("settings", {})
    analysis = Analysis(settings.get("analysis") or settings.get("index", {}).get("analysis") or {})
    props = mapping.get("mappings", mapping).get("properties", {})
    edges: dict[str, list[tuple[str, ...]]] = {}
    _copy_edges(props, "", (), edges)
    return {f.name: f for f in _walk_mapping(props, "", (), analysis, edges)}


@lru_cache
def fields_for(kind: str) -> dict[str, FieldInfo]:
    """Searchable fields of a record kind, read from its index template (the one the sink installs)."""
    try:
        return mapping_fields(template(kind))
    except ValueError:
        raise ValueError(f"no index template for record kind {kind!r}") from None


# --- records ------------------------------------------------------------------------------------


def _leaves(value: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if value is None:
        return
    if isinstance(value, list):
        for v in value:
            yield from _leaves(v, path)
        return
    if not path:
        yield value
        return
    if isinstance(value, dict):
        yield from _leaves(value.get(path[0]), path[1:])


def _to_millis(value: Any) -> float | None:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp() * 1000


class Doc:
    """A record as rules see it: values per field, computed once and shared by all rules."""

    def __init__(self, record: dict[str, Any], fields: dict[str, FieldInfo]):
        self.record = record
        self.fields = fields
        self._values: dict[str, list] = {}
        self._tokens: dict[str, list[list[str]]] = {}
        self._sets: dict[str, set[str]] = {}

    def values(self, f: FieldInfo) -> list:
        """The field's indexed values (typed: str for text/keyword, float for numbers/dates, bool)."""
        got = self._values.get(f.name)
        if got is None:
            raw = [v for path in (f.source, *f.copies) for v in _leaves(self.record, path) if v != ""]
            if f.type in KEYWORD:
                got = [f.normalize(str(v)) for v in raw if f.ignore_above is None or len(str(v)) <= f.ignore_above]
            elif f.type in NUMERIC:
                got = [float(v) for v in raw if isinstance(v, (int, float)) or _is_number(v)]
            elif f.type in ("date", "date_nanos"):
                got = [m for m in map(_to_millis, raw) if m is not None]
            elif f.type == "boolean":
                got = [v if isinstance(v, bool) else str(v).lower() == "true" for v in raw]
            else:
                got = [str(v) for v in raw]
            self._values[f.name] = got
        return got

    def tokens(self, f: FieldInfo) -> list[list[str]]:
        """Per value, the analysed tokens of a text field (phrases never span two values)."""
        got = self._tokens.get(f.name)
        if got is None:
            got = self._tokens[f.name] = [f.tokens(v) for v in self.values(f)]
        return got

    def token_set(self, f: FieldInfo) -> set[str]:
        got = self._sets.get(f.name)
        if got is None:
            got = self._sets[f.name] = {t for toks in self.tokens(f) for t in toks}
        return got

    def bag(self) -> set[str]:
        """Every text token and keyword value of the record: what rule anchors are looked up in."""
        out: set[str] = set()
        for f in self.fields.values():
            if f.type == "text":
                out |= self.token_set(f)
            elif f.type in KEYWORD:
                out.update(self.values(f))
        return out


def _is_number(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


# --- dates --------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})(?:[T ](?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})"
    r"(?:[.,](?P<f>\d{1,9}))?)?)?)?)?)?(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")


def _add_months(dt: datetime, months: int) -> datetime:
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return dt.replace(year=year, month=month, day=min(dt.day, days[month - 1]))


def _floor(dt: datetime, unit: str) -> datetime:
    if unit == "y":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        return (dt - timedelta(days=dt.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in "hH":
        return dt.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return dt.replace(second=0, microsecond=0)
    return dt.replace(microsecond=0)


def _shift(dt: datetime, n: int, unit: str) -> datetime:
    if unit == "y":
        return _add_months(dt, 12 * n)
    if unit == "M":
        return _add_months(dt, n)
    step = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "H": timedelta(hours=1),
            "m": timedelta(minutes=1), "s": timedelta(seconds=1)}[unit]
    return dt + n * step


def _parse_date(text: str, round_up: bool) -> datetime | None:
    """A date string, missing parts filled with their least (or, rounding up, greatest) value."""
    m = _DATE.match(text)
    if not m:
        if text.isdigit():  # epoch_millis
            try:
                return datetime.fromtimestamp(int(text) / 1000, timezone.utc)
            except (OverflowError, OSError, ValueError):
                raise DateOutOfRange(text) from None
        return None
    g = m.groupdict()
    tz = timezone.utc
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hh, mm = int(g["tz"][1:3]), int(g["tz"][-2:])
        tz = timezone(sign * timedelta(hours=hh, minutes=mm))
    try:
        dt = datetime(int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1), int(g["h"] or 0), int(g["mi"] or 0),
                      int(g["s"] or 0), int((g["f"] or "0").ljust(6, "0")[:6]), tzinfo=tz)
    except ValueError:
        return None
    if round_up:
        unit = next((u for key, u in (("mo", "y"), ("d", "M"), ("h", "d"), ("mi", "h"), ("s", "m"), ("f", "s"))
                     if g[key] is None), None)
        if unit:
            dt = _shift(dt, 1, unit) - timedelta(milliseconds=1)
        elif g["f"] is not None and len(g["f"]) < 3:
            dt = dt + timedelta(milliseconds=10 ** (3 - len(g["f"])) - 1)
    return dt


def number_bound(text: str, round_up: bool) -> Callable[[], float] | None:
    """A number range bound as `date_bound` gives a date's (rounding does not apply to numbers)."""
    if not _is_number(text):
        return None
    value = float(text)
    return lambda: value


class DateOutOfRange(ValueError):
    """A date (or date math) beyond what can be represented (years 1 to 9999)."""


def date_bound(text: str, round_up: bool) -> Callable[[], float] | None:
    """An Elasticsearch date (with optional date math) as a function returning epoch millis.

    None when `text` is not a date; raises `DateOutOfRange` when it is one that cannot be represented.
    A `now`-relative bound that leaves the range later yields NaN, which matches nothing.
    """
    if "||" in text:
        anchor, math_part = text.split("||", 1)
    elif text.startswith("now"):
        anchor, math_part = "now", text[3:]
    else:
        anchor, math_part = text, ""
    ops = _MATH.findall(math_part)
    if math_part and "".join(a + b + c if a else "/" + d for a, b, c, d in ops) != math_part:
        return None
    fixed = None if anchor == "now" else _parse_date(anchor, round_up and not ops)
    if anchor != "now" and fixed is None:
        return None

    def value() -> float:
        dt = fixed or datetime.now(timezone.utc)
        try:
            for sign, n, unit, rounding in ops:
                if rounding:
                    dt = _floor(dt, rounding)
                    if round_up:
                        dt = _shift(dt, 1, rounding) - timedelta(milliseconds=1)
                else:
                    dt = _shift(dt, int(n) * (1 if sign == "+" else -1), unit)
            return dt.timestamp() * 1000
        except (OverflowError, OSError, ValueError):
            return math.nan

    first = value()
    if math.isnan(first):
        raise DateOutOfRange(text)
    if fixed is not None:
        return lambda: first
    return value


# --- compilation --------------------------------------------------------------------------------

Pred = Callable[[Doc], bool]
ALL: Pred = lambda doc: True  # noqa: E731
NONE: Pred = lambda doc: False  # noqa: E731


@dataclass
class Query:
    """A compiled query: `matches(doc)`, and the anchors a matching record must carry (None: any)."""

    text: str
    predicate: Pred
    anchors: frozenset[str] | None = None
    fields: set[str] = field(default_factory=set)
    terms: list[Term] = field(default_factory=list)

    def matches(self, doc: Doc) -> bool:
        return self.predicate(doc)


@dataclass(frozen=True)
class Term:
    """A value the query looks for in one named field (no wildcard): what a vocabulary check reads."""

    field: str
    value: str
    position: int


@dataclass(frozen=True)
class _Run:
    """Words separated by whitespace only, analysed as one text (Lucene's multi-term clause)."""

    words: tuple[tree.Word, ...]


def _plain(item: Any) -> bool:
    return isinstance(item, tree.Word) and not _WILD.search(item.value)


def _multiterms(seq: list[tuple[str | None, Any]]) -> list[tuple[str | None, Any]]:
    """Join runs of plain words as Elasticsearch's query parser does (it does not split on whitespace): a
    word joins the run when no operator precedes it and neither `AND`/`OR` nor a lone `*` follows it, so
    `about:(IR RU)` is the one value "IR RU" and `title:(iran russia)` the text "iran russia"."""
    def allowed_after(k: int) -> bool:
        if k >= len(seq):
            return True
        conj, item = seq[k]
        return conj not in ("AND", "OR") and not (isinstance(item, tree.Word) and item.value == "*")

    out: list[tuple[str | None, Any]] = []
    i = 0
    while i < len(seq):
        conj, item = seq[i]
        if conj is None and _plain(item):
            j = i + 1
            while j < len(seq) and seq[j][0] is None and _plain(seq[j][1]) and allowed_after(j + 1):
                j += 1
            if j - i >= 2:
                out.append((None, _Run(tuple(w for _, w in seq[i:j]))))
                i = j
                continue
        out.append(seq[i])
        i += 1
    return out


@dataclass
class _C:
    pred: Pred
    anchors: frozenset[str] | None


_ESCAPE = re.compile(r"\\(.)")
_WILD = re.compile(r"(?<!\\)[*?]")


def _unescape(s: str) -> str:
    return _ESCAPE.sub(r"\1", s)


def _wildcard_regex(pattern: str, lower: bool) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c.lower() if lower else c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


_STAR, _ONE = object(), object()


def wildcard_matcher(pattern: str, lower: bool) -> Callable[[str], bool]:
    """Whether a value matches a Lucene wildcard pattern (`*` any run, `?` one character, `\\` escapes).

    One `*` compiles to a regular expression; more use a two-pointer scan that never backtracks further
    than the last `*` (time at most pattern length x value length), where a regular expression of several
    `.*` backtracks exponentially (`*a*a*a*a*a*b` over a long value ran for minutes).
    """
    if sum(1 for m in _WILD.finditer(pattern) if m.group() == "*") <= 1:
        rx = _wildcard_regex(pattern, lower)
        return lambda value: rx.fullmatch(value) is not None
    items: list[Any] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            items.append(pattern[i + 1])
            i += 2
            continue
        item = _STAR if c == "*" else _ONE if c == "?" else (c.lower() if lower else c)
        if not (item is _STAR and items and items[-1] is _STAR):
            items.append(item)
        i += 1
    return lambda value: _glob(items, value)


def _glob(items: list[Any], value: str) -> bool:
    i = j = 0
    star, mark = -1, 0
    while i < len(value):
        if j < len(items) and items[j] is not _STAR and (items[j] is _ONE or items[j] == value[i]):
            i, j = i + 1, j + 1
        elif j < len(items) and items[j] is _STAR:
            star, mark, j = j, i, j + 1
        elif star >= 0:
            mark += 1
            i, j = mark, star + 1
        else:
            return False
    while j < len(items) and items[j] is _STAR:
        j += 1
    return j == len(items)


def _any(preds: list[Pred]) -> Pred:
    if not preds:
        return NONE
    if len(preds) == 1:
        return preds[0]
    return lambda doc: any(p(doc) for p in preds)


def _union(items: list[_C]) -> _C:
    anchors = (None if any(c.anchors is None for c in items)
               else frozenset().union(*(c.anchors for c in items if c.anchors is not None)))
    return _C(_any([c.pred for c in items]), anchors)


class _Compiler:
    def __init__(self, text: str, fields: dict[str, FieldInfo], search: bool = False):
        self.text = text
        self.fields = fields
        self.search = search  # a search, not a rule: fuzzy, proximity and regex are Elasticsearch's to run
        self.used: set[str] = set()
        self.terms: list[Term] = []

    def note(self, node: tree.Item, fields: list[FieldInfo], lenient: bool, value: str) -> None:
        """Remember a value looked up in one named field (for the vocabulary check)."""
        if not lenient and len(fields) == 1:
            self.terms.append(Term(fields[0].name, value, getattr(node, "pos", None) or 0))

    def error(self, node: tree.Item, message: str) -> QueryError:
        return QueryError(message, getattr(node, "pos", None) or 0)

    # fields
    def resolve(self, name_node: tree.Item, name: str) -> tuple[list[FieldInfo], bool]:
        """Fields named by `name` (wildcards allowed); the flag says whether lenient (`*`)."""
        if name == "*":
            return list(self.fields.values()), True
        plain = _unescape(name)
        if _WILD.search(name) or "*" in plain:
            pattern = plain
            got = [f for n, f in self.fields.items() if fnmatch.fnmatchcase(n, pattern)]
            if not got:
                raise self.error(name_node, f"no field matches {plain!r}")
            return got, True
        if plain not in self.fields:
            close = difflib.get_close_matches(plain, list(self.fields), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(name_node, f"unknown field {plain!r}{hint}")
        return [self.fields[plain]], False

    # nodes
    def compile(self, node: tree.Item, fields: list[FieldInfo], lenient: bool) -> _C:
        if isinstance(node, tree.SearchField):
            if node.name == "_exists_":
                return self.exists(node)
            sub, sub_lenient = self.resolve(node, node.name)
            self.used.update(f.name for f in sub)
            return self.compile(node.expr, sub, sub_lenient)
        if isinstance(node, (tree.Group, tree.FieldGroup)):
            return self.compile(node.expr, fields, lenient)
        if isinstance(node, tree.Boost):
            return self.compile(node.expr, fields, lenient)
        if isinstance(node, (tree.AndOperation, tree.OrOperation, tree.UnknownOperation, tree.Not, tree.Prohibit,
                             tree.Plus)):
            return self.clauses(node, fields, lenient)
        if isinstance(node, tree.Word):
            return self.word(node, fields, lenient)
        if isinstance(node, tree.Phrase):
            return self.phrase(node, fields, lenient)
        if isinstance(node, (tree.Range, tree.From, tree.To)):
            return self.range(node, fields, lenient)
        if self.search and isinstance(node, (tree.Fuzzy, tree.Proximity, tree.Regex)):
            return _C(NONE, None)
        if isinstance(node, tree.Fuzzy):
            raise self.error(node, "fuzzy queries (~) are not supported in rules")
        if isinstance(node, tree.Proximity):
            raise self.error(node, "proximity queries (\"...\"~N) are not supported in rules")
        if isinstance(node, tree.Regex):
            raise self.error(node, "regular-expression queries (/.../) are not supported in rules")
        raise self.error(node, f"unsupported query element {type(node).__name__}")

    def exists(self, node: tree.SearchField) -> _C:
        expr = node.expr
        if not isinstance(expr, (tree.Word, tree.Phrase)):
            raise self.error(node, "_exists_ takes a field name")
        name = _unescape(expr.value.strip('"'))
        got = [f for n, f in self.fields.items() if n == name or n.startswith(name + ".")
               or (("*" in name or "?" in name) and fnmatch.fnmatchcase(n, name))]
        if not got:
            raise self.error(expr, f"unknown field {name!r}")
        self.used.update(f.name for f in got)
        return _C(_any([self._has(f) for f in got]), None)

    @staticmethod
    def _has(f: FieldInfo) -> Pred:
        return lambda doc: bool(doc.values(f))

    def clauses(self, node: tree.Item, fields: list[FieldInfo], lenient: bool) -> _C:
        """A Lucene clause list, built as the classic query parser builds it (ES `query_string`)."""
        seq: list[tuple[str | None, Any]] = []
        self._flatten(node, None, seq)
        occurs: list[list] = []  # [occur, compiled]
        for conj, item in _multiterms(seq):
            mod = "+" if isinstance(item, tree.Plus) else "-" if isinstance(item, (tree.Not, tree.Prohibit)) else None
            inner = item.a if mod else item
            c = self.run(inner, fields, lenient) if isinstance(inner, _Run) else self.compile(inner, fields, lenient)
            if occurs and conj == "AND" and occurs[-1][0] != "MUST_NOT":
                occurs[-1][0] = "MUST"
            occur = "MUST_NOT" if mod == "-" else "MUST" if (mod == "+" or conj == "AND") else "SHOULD"
            occurs.append([occur, c])
        must = [c for o, c in occurs if o == "MUST"]
        should = [c for o, c in occurs if o == "SHOULD"]
        must_not = [c.pred for o, c in occurs if o == "MUST_NOT"]
        must_p = [c.pred for c in must]
        should_p = [c.pred for c in should]
        need_should = not must and bool(should)

        def pred(doc: Doc) -> bool:
            for p in must_p:
                if not p(doc):
                    return False
            for p in must_not:
                if p(doc):
                    return False
            if need_should:
                for p in should_p:
                    if p(doc):
                        return True
                return False
            return True

        anchored = [c.anchors for c in must if c.anchors is not None]
        if anchored:
            anchors = min(anchored, key=len)
        elif need_should:
            anchors = _union(should).anchors
        else:
            anchors = None
        return _C(pred, anchors)

    def _flatten(self, node: tree.Item, conj: str | None, out: list) -> None:
        if isinstance(node, (tree.AndOperation, tree.OrOperation, tree.UnknownOperation)):
            op = "AND" if isinstance(node, tree.AndOperation) else "OR" if isinstance(node, tree.OrOperation) else None
            for i, child in enumerate(node.children):
                self._flatten(child, conj if i == 0 else op, out)
        else:
            out.append((conj, node))

    # leaves
    def run(self, run: _Run, fields: list[FieldInfo], lenient: bool) -> _C:
        """Words analysed together: text fields match any of their tokens (default operator OR), a keyword
        or a whole-value text field the words joined by a space."""
        text = " ".join(_unescape(w.value) for w in run.words)
        self.note(run.words[0], fields, lenient, text)
        parts = [self.term(run.words[0], f, text, lenient) for f in fields]
        return _union([p for p in parts if p is not None] or [_C(NONE, frozenset())])

    def word(self, node: tree.Word, fields: list[FieldInfo], lenient: bool) -> _C:
        raw = node.value
        if raw == "*":
            if lenient and len(fields) == len(self.fields):
                return _C(ALL, None)
            return _C(_any([self._has(f) for f in fields]), None)
        wild = bool(_WILD.search(raw))
        if not wild:
            self.note(node, fields, lenient, _unescape(raw))
        parts = [self.wildcard(node, f, raw, lenient) if wild else self.term(node, f, _unescape(raw), lenient)
                 for f in fields]
        return _union([p for p in parts if p is not None] or [_C(NONE, frozenset())])

    def phrase(self, node: tree.Phrase, fields: list[FieldInfo], lenient: bool) -> _C:
        text = _unescape(node.value[1:-1])
        self.note(node, fields, lenient, text)
        parts = []
        for f in fields:
            if f.type == "text":
                toks = f.tokens(text)
                if not toks:
                    continue
                parts.append(_C(self._phrase_pred(f, toks), frozenset([max(toks, key=len)])))
            else:
                got = self.term(node, f, text, lenient)
                if got is not None:
                    parts.append(got)
        return _union(parts or [_C(NONE, frozenset())])

    @staticmethod
    def _phrase_pred(f: FieldInfo, toks: list[str]) -> Pred:
        if len(toks) == 1:
            tok = toks[0]
            return lambda doc: tok in doc.token_set(f)
        n = len(toks)

        def pred(doc: Doc) -> bool:
            if not all(t in doc.token_set(f) for t in toks):
                return False
            return any(vt[i:i + n] == toks for vt in doc.tokens(f) for i in range(len(vt) - n + 1))
        return pred

    def term(self, node: tree.Item, f: FieldInfo, value: str, lenient: bool) -> _C | None:
        if f.type == "text":
            toks = f.tokens(value)
            if not toks:
                return None
            preds = [self._phrase_pred(f, [t]) for t in toks]
            return _C(_any(preds), frozenset(toks))
        if f.type in KEYWORD:
            norm = f.normalize(value)
            return _C(lambda doc: norm in doc.values(f), frozenset([norm]))
        if f.type in NUMERIC:
            if not _is_number(value):
                return self.refuse(node, f, value, "a number", lenient)
            num = float(value)
            return _C(lambda doc: num in doc.values(f), None)
        if f.type in ("date", "date_nanos"):
            try:
                lo, hi = date_bound(value, False), date_bound(value, True)
            except DateOutOfRange:
                return self.refuse(node, f, value, "a date between the years 1 and 9999", lenient)
            if lo is None or hi is None:
                return self.refuse(node, f, value, "a date", lenient)
            return _C(lambda doc: any(lo() <= v <= hi() for v in doc.values(f)), None)
        if f.type == "boolean":
            if value not in ("true", "false"):
                return self.refuse(node, f, value, "true or false", lenient)
            b = value == "true"
            return _C(lambda doc: b in doc.values(f), None)
        return self.refuse(node, f, value, "a searchable value", lenient)

    def refuse(self, node: tree.Item, f: FieldInfo, value: str, wanted: str, lenient: bool) -> _C | None:
        """A value the field cannot hold: no clause when `lenient` (a bare term over every field), else an error."""
        if lenient:
            return None
        raise self.error(node, f"field {f.name!r} ({f.type}) needs {wanted}, not {value!r}")

    def wildcard(self, node: tree.Word, f: FieldInfo, raw: str, lenient: bool) -> _C | None:
        if f.type == "text":
            fits = wildcard_matcher(raw, lower=True)
            return _C(lambda doc: any(fits(t) for t in doc.token_set(f)), None)
        if f.type in KEYWORD:
            fits = wildcard_matcher(f.normalize(raw), lower=False)
            return _C(lambda doc: any(fits(v) for v in doc.values(f)), None)
        return self.refuse(node, f, raw, "text or keyword for wildcards", lenient)

    def range(self, node: tree.Item, fields: list[FieldInfo], lenient: bool) -> _C:
        if isinstance(node, tree.Range):
            low, high, inc_low, inc_high = node.low, node.high, node.include_low, node.include_high
        elif isinstance(node, tree.From):
            low, high, inc_low, inc_high = node.a, None, node.include, True
        else:
            low, high, inc_low, inc_high = None, node.a, True, node.include
        lo_s = None if low is None or low.value == "*" else _unescape(low.value.strip('"'))
        hi_s = None if high is None or high.value == "*" else _unescape(high.value.strip('"'))
        parts = [self.range_one(node, f, lo_s, hi_s, inc_low, inc_high, lenient) for f in fields]
        return _union([p for p in parts if p is not None] or [_C(NONE, frozenset())])

    def range_one(self, node, f: FieldInfo, lo: str | None, hi: str | None, inc_lo: bool, inc_hi: bool,
                  lenient: bool) -> _C | None:
        if f.type in NUMERIC or f.type in ("date", "date_nanos"):
            conv = number_bound if f.type in NUMERIC else date_bound
            wanted = "numbers" if f.type in NUMERIC else "dates"
            # Elasticsearch rounds gt and lte up, gte and lt down.
            try:
                lo_f = None if lo is None else conv(lo, not inc_lo)
                hi_f = None if hi is None else conv(hi, inc_hi)
            except DateOutOfRange:
                return self.refuse(node, f, f"{lo} TO {hi}", "dates between the years 1 and 9999", lenient)
            if (lo is not None and lo_f is None) or (hi is not None and hi_f is None):
                return self.refuse(node, f, f"{lo} TO {hi}", wanted, lenient)

            def pred(doc: Doc) -> bool:
                a = lo_f() if lo_f else None
                b = hi_f() if hi_f else None
                for v in doc.values(f):
                    if a is not None and (v < a or (v == a and not inc_lo)):
                        continue
                    if b is not None and (v > b or (v == b and not inc_hi)):
                        continue
                    return True
                return False
            return _C(pred, None)
        if f.type in KEYWORD or f.type == "text":
            if f.type in KEYWORD:  # Elasticsearch normalizes the bounds as it normalized the values
                lo, hi = (None if lo is None else f.normalize(lo)), (None if hi is None else f.normalize(hi))

            def inside(v: str) -> bool:
                if lo is not None and (v < lo or (v == lo and not inc_lo)):
                    return False
                if hi is not None and (v > hi or (v == hi and not inc_hi)):
                    return False
                return True
            if f.type == "text":
                return _C(lambda doc: any(inside(t) for t in doc.token_set(f)), None)
            return _C(lambda doc: any(inside(v) for v in doc.values(f)), None)
        return self.refuse(node, f, f"{lo} TO {hi}", "a range type", lenient)


def _parse_position(exc: ParseError, text: str) -> int:
    m = re.search(r"position (\d+)", str(exc))
    return int(m.group(1)) if m else len(text)


def compile_query(text: str, fields: dict[str, FieldInfo], search: bool = False) -> Query:
    """Parse and compile a Lucene query string against `fields`; raise `QueryError` with a position.

    With `search`, the query is checked for a search of the index (`newsmon search`): the same fields and
    types as a rule, while fuzzy, proximity and regular-expression parts, which rules refuse, are let
    through (their predicate matches nothing here; Elasticsearch evaluates them)."""
    if not text.strip():
        raise QueryError("empty query", 0)
    check_limits(text)
    try:
        node = parser.parse(text)
    except ParseError as exc:
        msg = str(exc).split(" at position")[0].split(" at the end")[0]
        raise QueryError(msg, _parse_position(exc, text)) from None
    except RecursionError:
        raise QueryError("query nested too deeply", 0) from None
    except (TypeError, ValueError, AttributeError) as exc:  # luqum may fail on odd input
        raise QueryError(f"cannot parse query: {exc}", 0) from None
    compiler = _Compiler(text, fields, search)
    try:
        compiled = compiler.compile(node, list(fields.values()), True)
    except RecursionError:  # deep nesting the character scan did not see (e.g. a long chain of NOT)
        raise QueryError("query nested too deeply", 0) from None
    return Query(text, compiled.pred, compiled.anchors, compiler.used, compiler.terms)
