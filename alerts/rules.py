"""Alert rules: a YAML file of named Lucene queries, validated at load time and matched in bulk.

```yaml
destinations:                 # optional: named apprise URLs
  desk: json://alerts.example.org/hook
rules:
  - name: Putin on Syria
    query: 'speaker.name:"Vladimir Putin" AND about:SY'
    kind: statements          # statements (default), events or articles
    destinations: [desk, "mailto://user:pass@example.org"]
    throttle: 10m             # optional: at most one delivery per destination per 10 minutes
```

A rule that does not parse, names an unknown field or gives a field a value of the wrong type is
refused with the rule's name and the error's position in the query (`RuleError`). Query semantics
are Elasticsearch's `query_string` (see `alerts.query`). Every destination URL (after `${NAME}`
expansion) must be one apprise can load, else the file is refused with the rule and the destination's
position. Alerts carry destination names; a URL given inline travels as a label that shows no part of its
secrets (`alerts.destinations.label`) and is resolved from this file by the notifier.
A throttled alert is still indexed and recorded in the delivery ledger, only not pushed.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator

from newsmon.alerts.destinations import LEGACY_LABEL, label, loadable
from newsmon.alerts.message import make_alert
from newsmon.settings import ConfigurationError
from newsmon.alerts.query import KINDS, Doc, Query, QueryError, compile_query, fields_for
from newsmon.records import Alert
from newsmon.secrets import MissingSecret, expand, references

__all__ = ["Rule", "RuleSet", "RuleError", "load_rules", "parse_rules"]

log = logging.getLogger("newsmon.alerts")

Kind = Literal["statements", "events", "articles"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


class RuleError(ConfigurationError, ValueError):
    """A rule file or rule that cannot be used; names the rule and the error position."""

    def __init__(self, message: str, rule: str | None = None, position: int | None = None,
                 source: str | None = None):
        where = f"{source}: " if source else ""
        what = f"rule {rule!r}: " if rule else ""
        at = f" (query position {position})" if position is not None else ""
        super().__init__(f"{where}{what}{message}{at}")
        self.rule, self.position, self.reason = rule, position, message


def parse_duration(value: Any) -> timedelta | None:
    """`90`, `"90s"`, `"10m"`, `"2h"`, `"1d"` as a timedelta (a bare number is seconds)."""
    if value is None or isinstance(value, timedelta):
        return value
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 10m, 2h, 1d)")
    seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]
    return timedelta(seconds=seconds)


class Rule(BaseModel):
    """One alert rule: a Lucene query over one record kind, and where its alerts go."""

    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    kind: Kind = "statements"
    destinations: list[str] = Field(default_factory=list)
    throttle: timedelta | None = None

    model_config = {"extra": "forbid"}
    _compiled: Query | None = PrivateAttr(None)

    @field_validator("throttle", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta | None:
        return parse_duration(v)

    @property
    def compiled(self) -> Query:
        if self._compiled is None:
            self._compiled = compile_query(self.query, fields_for(self.kind))
        return self._compiled

    def matches(self, record: dict[str, Any] | Doc) -> bool:
        """Whether a record (a dict shaped as indexed, e.g. `Statement.model_dump(mode='json', by_alias=True)`)
        matches."""
        doc = record if isinstance(record, Doc) else Doc(record, fields_for(self.kind))
        return self.compiled.matches(doc)


class RuleSet(BaseModel):
    """The rules of one file, with named destinations; `match` finds the rules a record fires."""

    rules: list[Rule] = Field(default_factory=list)
    destinations: dict[str, str | list[str]] = Field(default_factory=dict)

    model_config = {"extra": "forbid"}
    _index: dict[str, tuple[dict[str, list[int]], list[int]]] = PrivateAttr(default_factory=dict)

    def kinds(self) -> set[str]:
        return {r.kind for r in self.rules}

    def urls(self, destination: str) -> list[str]:
        """The apprise URLs of a destination: a name defined in the file, or the label of a URL given
        inline in a rule (see `label`); [] when unknown."""
        got = self.destinations.get(destination)
        if got is None:
            inline = {label(r.name, i, d): d for r, i, d in self._inline()}
            if destination not in inline:
                return [expand(url) for url in self._legacy(destination)]
            return [expand(inline[destination])]
        # `${NAME}`: from the environment (newsmon.secrets)
        return [expand(url) for url in ([got] if isinstance(got, str) else got)]

    def labels(self, rule: Rule) -> list[str]:
        """The destinations an alert of `rule` carries: names, and inline URLs by their secret-free label."""
        return [d if d in self.destinations else label(rule.name, i, d) for i, d in enumerate(rule.destinations, 1)]

    def _inline(self) -> list[tuple[Rule, int, str]]:
        """(rule, 1-based position, URL) of every URL given inline in a rule."""
        return [(r, i, d) for r in self.rules for i, d in enumerate(r.destinations, 1) if d not in self.destinations]

    def _legacy(self, destination: str) -> list[str]:
        """The inline URL an alert of an earlier release names by its old label (privacy form + short hash of
        the URL), so alerts and ledger rows written before the upgrade still resolve; never written now."""
        from newsmon.records import stable_id

        old = LEGACY_LABEL.match(destination)
        if old is None:
            return []
        return [d for _, _, d in self._inline()
                if d.startswith(old["scheme"] + "://") and stable_id(d)[:8] == old["hash"]][:1]

    def _check_destinations(self) -> None:
        """Every destination resolves now to a URL apprise can load: a missing `${NAME}` or a URL apprise
        refuses stops the load (`RuleError` with the rule and the destination's position, no part of the
        URL), not the first alert's delivery."""
        places: list[tuple[str | None, str, str]] = [
            (None, f"destination {name!r} #{i}", url) for name, v in self.destinations.items()
            for i, url in enumerate([v] if isinstance(v, str) else v, 1)]
        places += [(r.name, f"destination #{i} ({label(r.name, i, d)})", d) for r, i, d in self._inline()]
        for rule, where, url in places:
            try:
                expanded = expand(url)
            except MissingSecret as exc:
                raise RuleError(f"{where}: {exc}", rule) from None
            if not loadable(expanded):
                raise RuleError(f"{where}: not a URL apprise can load (unknown service, or a value it refuses; "
                                f"see the apprise documentation of the service)", rule)

    def compile(self) -> "RuleSet":
        """Compile every rule and build the anchor index (raises `RuleError` on the first bad rule)."""
        for rule in self.rules:
            try:
                _ = rule.compiled  # compiled once here, so a bad rule fails the load
            except QueryError as exc:
                raise RuleError(exc.message, rule.name, exc.position) from None
            for d in rule.destinations:
                if d not in self.destinations and "://" not in d and not references(d):
                    raise RuleError(f"unknown destination {d!r} (define it under destinations: or give an "
                                    f"apprise URL)", rule.name)
        self._check_destinations()
        self._index = {}
        for kind in KINDS:
            anchored: dict[str, list[int]] = defaultdict(list)
            always: list[int] = []
            for i, rule in enumerate(self.rules):
                if rule.kind != kind:
                    continue
                anchors = rule.compiled.anchors
                if anchors is None:
                    always.append(i)
                else:
                    for a in anchors:
                        anchored[a].append(i)
            self._index[kind] = (dict(anchored), always)
        return self

    def match(self, kind: str, record: dict[str, Any]) -> list[Rule]:
        """The rules of `kind` that `record` matches, in file order."""
        if not self._index:
            self.compile()
        anchored, always = self._index[kind]
        if not anchored and not always:
            return []
        doc = Doc(record, fields_for(kind))
        candidates = set(always)
        if anchored:
            for token in doc.bag():
                hit = anchored.get(token)
                if hit:
                    candidates.update(hit)
        return [self.rules[i] for i in sorted(candidates) if _fires(self.rules[i], doc)]

    def alerts(self, kind: str, record: dict[str, Any]) -> list[Alert]:
        """One `Alert` per rule that `record` (shaped as indexed) fires."""
        return [make_alert(r.name, kind, record, self.labels(r)) for r in self.match(kind, record)]

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


def _fires(rule: Rule, doc: Doc) -> bool:
    """Whether `rule` matches; a rule that fails on a record is logged and counts as no match, so it never
    costs the other rules their alerts for that record."""
    try:
        return rule.compiled.matches(doc)
    except Exception:
        log.exception("rule %r failed on a record; it is skipped for this record", rule.name)
        return False


def _duplicate_names(rules: list[Rule]) -> str | None:
    seen: set[str] = set()
    for r in rules:
        if r.name in seen:
            return r.name
        seen.add(r.name)
    return None


def parse_rules(text: str, source: str | None = None) -> RuleSet:
    """Parse and compile a rules YAML document."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"not valid YAML: {exc}", source=source) from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError("expected a mapping with a top-level 'rules:' list", source=source)
    for i, raw in enumerate(data["rules"]):
        name = raw.get("name") if isinstance(raw, dict) else None
        try:
            Rule.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in exc.errors())
            raise RuleError(problems, name or f"#{i + 1}", source=source) from None
    try:
        ruleset = RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RuleError(str(exc), source=source) from None
    dup = _duplicate_names(ruleset.rules)
    if dup:
        raise RuleError("duplicate rule name (alert ids are derived from it)", dup, source=source)
    try:
        return ruleset.compile()
    except RuleError as exc:
        raise RuleError(exc.reason, exc.rule, exc.position, source) from None


def load_rules(path: str | Path) -> RuleSet:
    """Load, validate and compile a rules file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read rules file: {exc.strerror}", source=str(path)) from None
    return parse_rules(text, str(path))
