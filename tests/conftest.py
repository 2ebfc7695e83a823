"""Shared fixtures: the local broker and search server (Apache Kafka and Elasticsearch, or the lite
stand-ins where Java or Maven is missing, or with NEWSMON_TEST_STACK=lite), seed texts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from newsmon.servers import choose, describe, make_broker, make_search, start_all
from newsmon.settings import Settings, get_settings
from tests.receivers import Mailbox, Receiver


@pytest.fixture(autouse=True)
def fresh_process_settings():
    """Each test reads the environment it sets: the CLI's process-wide settings (`get_settings`, cached)
    are forgotten before and after every test, so a command a test invokes never runs on another's."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS_DIR = REPO / "producers" / "seeds"  # the copy that ships with the package (the same three texts)
POLNEAR_DIR = SHARED / "datasets" / "polnear"
needs_polnear = pytest.mark.skipif(not (POLNEAR_DIR / "train").is_dir(),
                                   reason=f"PolNeAR data not found at {POLNEAR_DIR} (a clone without ../shared)")


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    """The three seed articles by their number ('000', '001', '002')."""
    return {p.name[:3]: p.read_text(encoding="utf-8") for p in sorted(SEEDS_DIR.glob("*.txt"))}


@pytest.fixture(scope="session")
def stack_kind() -> str:
    """`apache` or `lite`: NEWSMON_TEST_STACK (default `auto`: apache wherever it can run)."""
    return choose(os.environ.get("NEWSMON_TEST_STACK", "auto"), say=lambda line: print(line))


@pytest.fixture(scope="session")
def servers(tmp_path_factory, stack_kind):
    """The broker and the search server for the whole session, started side by side (each test uses its
    own topic and index prefix)."""
    root = tmp_path_factory.mktemp("servers")
    broker, search = make_broker(stack_kind, root), make_search(stack_kind, root)
    try:
        start_all(broker, search)
        print(f"\ntest servers: {describe(broker)}; {describe(search)}")
        yield broker, search
    finally:
        broker.stop()
        search.stop()
        discard = getattr(search, "discard", None)
        if discard:
            discard()


@pytest.fixture(scope="session")
def broker(servers):
    return servers[0]


@pytest.fixture(scope="session")
def search(servers):
    return servers[1]


@pytest.fixture
def stack_settings(broker, search, tmp_path, request) -> Settings:
    """Settings pointing at the local broker and search server, with names unique to this test."""
    name = "t" + str(abs(hash(request.node.nodeid)) % 10**8)
    return Settings(kafka_bootstrap_servers=broker.bootstrap, elasticsearch_url=search.url,
                    data_dir=tmp_path / "data", topic_prefix=name, index_prefix=name, partitions=4,
                    untrusted_allow_networks=["127.0.0.0/8", "::1"])  # the test pages are served on loopback


@pytest.fixture
def receiver(httpserver) -> Receiver:
    """An HTTP receiver for apprise `json://` deliveries (set `.down` to refuse with 503)."""
    return Receiver(httpserver)


@pytest.fixture
def mailbox() -> Mailbox:
    """A local SMTP server (aiosmtpd) collecting delivered messages."""
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture
def threaded_httpserver():
    """A threaded local HTTP server of its own (pytest-httpserver's shared one answers one request at a
    time: a slow receiver would hold up every other request)."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()
