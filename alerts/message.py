"""Alert records and the readable message they carry (speaker, quote, outlet, link, rule)."""

from __future__ import annotations

from typing import Any

from newsmon.records import Alert, stable_id

__all__ = ["make_alert", "render", "terminal_lines", "title"]

MAX_QUOTE = 600


def _clip(text: str, limit: int = MAX_QUOTE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _when(record: dict[str, Any]) -> str:
    ts = str(record.get("@timestamp") or record.get("timestamp") or "")
    return ts[:16].replace("T", " ") + " UTC" if ts else ""


def render(kind: str, record: dict[str, Any], rule: str) -> str:
    """The message text of an alert: who said what (or what happened), where it ran, the rule."""
    outlet = " · ".join(x for x in (record.get("feed"), _when(record)) if x)
    if kind == "statements":
        sp = record.get("speaker") or {}
        who = sp.get("name") or sp.get("text") or "Unattributed"
        if sp.get("country"):
            who += f" ({sp['country']})"
        via = f", via {record['via']}" if record.get("via") else ""
        head = f"{who}{via}:\n“{_clip((record.get('content') or {}).get('text', ''))}”"
    elif kind == "events":
        actors = ", ".join(a.get("name") or a.get("text", "") for a in record.get("actors") or [])
        trigger = (record.get("trigger") or {}).get("text", "")
        head = f"{record.get('type', 'event')}: {actors or 'unknown actors'} ({trigger})"
    else:
        head = record.get("title") or record.get("url", "")
    lines = [head]
    if record.get("title") and kind != "articles":
        lines.append(f"In: {_clip(record['title'], 200)}")
    if outlet:
        lines.append(f"Outlet: {outlet}")
    if record.get("url"):
        lines.append(record["url"])
    lines.append(f"Rule: {rule}")
    return "\n".join(lines)


def terminal_lines(alert: Alert, width: int = 160) -> tuple[str, str, str]:
    """What a terminal shows of an alert, so it stands out among log lines: (rule · who · outlet, the
    first line of what was said or happened, the link)."""
    record = alert.record
    outlet = " via ".join(x for x in (record.get("feed"), record.get("via")) if x) or "unknown outlet"
    if alert.kind == "statements":
        sp = record.get("speaker") or {}
        who = sp.get("name") or sp.get("text") or "unattributed"
        who += f" ({sp['country']})" if sp.get("country") else ""
        text = (record.get("content") or {}).get("text", "")
        first = f"“{_clip(text.strip().splitlines()[0] if text.strip() else '', width)}”"
    elif alert.kind == "events":
        names = [a.get("name") or a.get("text", "") for a in record.get("actors") or []]
        who = ", ".join(n for n in names if n) or "unknown actors"
        trigger = (record.get("trigger") or {}).get("text", "")
        first = _clip(f"{record.get('type', 'event')}: {trigger}" + (f" · {record['title']}" if record.get("title")
                                                                       else ""), width)
    else:
        who = ", ".join((record.get("persons") or [])[:3]) or "-"
        first = _clip(record.get("title") or record.get("summary") or "", width)
    return f"{alert.rule} · {who} · {outlet}", first, str(record.get("url") or "")


def title(alert: Alert) -> str:
    """A short notification title."""
    if alert.kind == "statements":
        sp = alert.record.get("speaker") or {}
        who = sp.get("name") or sp.get("text") or "unattributed"
        return f"newsmon · {alert.rule}: {who}"
    return f"newsmon · {alert.rule}"


def make_alert(rule: str, kind: str, record: dict[str, Any], destinations: list[str]) -> Alert:
    """The alert for a rule match; its id is stable (rule + record id), so it is delivered once."""
    record_id = str(record.get("id", ""))
    return Alert(id=stable_id(rule, record_id), rule=rule, kind=kind, record_id=record_id, record=record,
                 destinations=destinations, message=render(kind, record, rule))
