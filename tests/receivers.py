"""Local destinations for alert delivery tests: an HTTP receiver (apprise json://) and an SMTP server."""

from __future__ import annotations

import email
import json
import time
from email.policy import default as email_policy

from aiosmtpd.controller import Controller
from werkzeug import Request, Response

from newsmon.servers.lite import free_port


class Receiver:
    """The HTTP end of `json://`: records posted alerts (and their `Idempotency-Key`), answers 503 while
    `down`, and takes `delay_s` to answer (after recording: a slow receiver still gets the alert)."""

    def __init__(self, httpserver, path: str = "/hook", delay_s: float = 0.0):
        self.posts: list[dict] = []
        self.keys: list[str | None] = []
        self.refused = 0
        self.down = False
        self.delay_s = delay_s
        httpserver.expect_request(path, method="POST").respond_with_handler(self.handle)
        self.url = f"json://127.0.0.1:{httpserver.port}{path}"

    def handle(self, request: Request) -> Response:
        if self.down:
            self.refused += 1
            return Response("down for maintenance", status=503)
        self.posts.append(json.loads(request.get_data()))
        self.keys.append(request.headers.get("Idempotency-Key"))
        if self.delay_s:
            time.sleep(self.delay_s)
        return Response("ok")

    def titles(self) -> list[str]:
        return [p["title"] for p in self.posts]

    def duplicates(self) -> int:
        """Deliveries beyond the first of each alert (by its idempotency key)."""
        return len(self.keys) - len(set(self.keys))


class Mailbox:
    """A local SMTP server collecting messages."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email_policy))
        return "250 OK"

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=newsmon@example.org&to=desk@example.org"
