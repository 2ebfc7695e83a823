"""Shared fixtures: the real local broker (Tansu) and search server (noida-db), seed texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsmon.localstack import LocalBroker, LocalSearch
from newsmon.settings import Settings
from tests.receivers import Mailbox, Receiver

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS_DIR = SHARED / "samples" / "seeds"
POLNEAR_DIR = SHARED / "datasets" / "polnear"


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    """The three seed articles by their number ('000', '001', '002')."""
    return {p.name[:3]: p.read_text(encoding="utf-8") for p in sorted(SEEDS_DIR.glob("*.txt"))}


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> LocalBroker:
    """A Tansu broker for the whole session (each test uses its own topic prefix)."""
    b = LocalBroker(tmp_path_factory.mktemp("tansu")).start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def search(tmp_path_factory) -> LocalSearch:
    """A noida-db Elasticsearch-API server for the whole session (each test uses its own index prefix)."""
    s = LocalSearch(tmp_path_factory.mktemp("noida")).start()
    yield s
    s.stop()


@pytest.fixture
def stack_settings(broker, search, tmp_path, request) -> Settings:
    """Settings pointing at the local broker and search server, with names unique to this test."""
    name = "t" + str(abs(hash(request.node.nodeid)) % 10**8)
    return Settings(kafka_bootstrap_servers=broker.bootstrap, elasticsearch_url=search.url,
                    data_dir=tmp_path / "data", topic_prefix=name, index_prefix=name, partitions=4)


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
