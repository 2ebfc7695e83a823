"""What the real local servers need from the machine: a Java that fits each, Maven, and a cache of jars.

Apache Kafka and Elasticsearch are resolved from Maven Central by the two small POMs beside this
module, once, into a cache directory; later starts use the cache. Which Java runs each server is found
on the machine (JAVA_HOME, `java` on PATH, /usr/lib/jvm, /opt/java), never assumed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from newsmon.servers.process import ServerError

KAFKA_VERSION = "4.1.1"
ELASTICSEARCH_VERSION = "8.19.8"
JVM_DIRS = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/local/lib/jvm"))


def default_cache_dir() -> Path:
    """Where resolved servers live. As root, a system-wide folder other accounts can read: Elasticsearch
    refuses to run as root and runs as an unprivileged user that must read its own distribution."""
    if env := os.environ.get("NEWSMON_CACHE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/newsmon")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsmon"


@dataclass(frozen=True)
class Java:
    home: Path
    major: int

    @property
    def binary(self) -> Path:
        return self.home / "bin" / "java"


def _java_major(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


@lru_cache
def installed_javas() -> tuple[Java, ...]:
    """Every distinct Java runtime found on the machine, JAVA_HOME and PATH first."""
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    if on_path := shutil.which("java"):
        candidates.append(Path(os.path.realpath(on_path)).parent.parent)
    for root in JVM_DIRS:
        if root.is_dir():
            candidates += sorted(p for p in root.iterdir() if p.is_dir())
    found: dict[Path, Java] = {}
    for home in candidates:
        real = home.resolve()
        if real in found or not (real / "bin" / "java").exists():
            continue
        major = _java_major(real / "bin" / "java")
        if major is not None:
            found[real] = Java(real, major)
    return tuple(found.values())


def find_java(accepts: Callable[[int], bool], what: str) -> Java:
    """The first Java on the machine whose major version `accepts`; `what` names the requirement."""
    for java in installed_javas():
        if accepts(java.major):
            return java
    seen = ", ".join(f"{j.major} ({j.home})" for j in installed_javas()) or "none"
    raise ServerError(f"no Java for {what} (found: {seen})")


def kafka_java() -> Java:
    return find_java(lambda m: m >= 17, f"Apache Kafka {KAFKA_VERSION} (needs 17 or later)")


def elasticsearch_java() -> Java:
    # 8.19 supports Java 17 and 21 (and runs on 24); prefer the LTS releases it was tested on
    for accepts in (lambda m: m in (17, 21), lambda m: 17 <= m <= 24):
        try:
            return find_java(accepts, f"Elasticsearch {ELASTICSEARCH_VERSION} (needs 17 to 24)")
        except ServerError:
            continue
    return find_java(lambda m: 17 <= m <= 24, f"Elasticsearch {ELASTICSEARCH_VERSION} (needs 17 to 24)")


def maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServerError("Maven (`mvn`) is not on PATH: it resolves Apache Kafka and Elasticsearch from Maven Central")
    return mvn


def apache_unavailable_reason() -> str | None:
    """Why the real stack cannot run here (None when it can): used to fall back to `lite` with one line."""
    try:
        kafka_java()
        elasticsearch_java()
        if not (kafka_home().exists() and elasticsearch_home().exists()):
            maven()
    except ServerError as exc:
        return str(exc)
    return None


def kafka_home(cache: Path | None = None) -> Path:
    return (cache or default_cache_dir()) / f"kafka-{KAFKA_VERSION}"


def elasticsearch_home(cache: Path | None = None) -> Path:
    return (cache or default_cache_dir()) / f"elasticsearch-{ELASTICSEARCH_VERSION}"


def _pom(name: str) -> str:
    return resources.files("newsmon.servers").joinpath(name).read_text("utf-8")


def _resolve(target: Path, pom: str, goal: list[str], say: Callable[[str], None], what: str) -> Path:
    """Run Maven once into a temporary folder beside `target`, then move it into place (atomic)."""
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o755)
    say(f"resolving {what} from Maven Central into {target} (once; later starts use this cache)...")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".resolving-") as tmp:
        pom_path = Path(tmp) / "pom.xml"
        pom_path.write_text(_pom(pom))
        out = Path(tmp) / "out"
        cmd = [maven(), "-B", "-q", "-f", str(pom_path), *goal, f"-DoutputDirectory={out}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ServerError(f"resolving {what} failed: {' '.join(cmd)} exited {proc.returncode}:\n"
                              + (proc.stdout + proc.stderr)[-3000:])
        unpacked = _single_child(out) if pom.startswith("elasticsearch") else out
        (unpacked / ".complete").write_text(f"{what}\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    _readable(target)
    say(f"{what} resolved in {time.monotonic() - start:.0f}s")
    return target


def _single_child(folder: Path) -> Path:
    children = [p for p in folder.iterdir() if p.is_dir()]
    if len(children) != 1:
        raise ServerError(f"unexpected layout of the unpacked distribution in {folder}: {children}")
    return children[0]


def _readable(root: Path) -> None:
    """Let other accounts read the distribution (the Elasticsearch user runs from it)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)


def resolve_kafka(say: Callable[[str], None] = print, cache: Path | None = None) -> Path:
    """The folder holding the broker's jars (`<home>/libs`), resolved on first use."""
    home = kafka_home(cache)
    if not (home / ".complete").exists():
        _resolve(home / "libs", "kafka.pom.xml", ["dependency:copy-dependencies"], say,
                 f"Apache Kafka {KAFKA_VERSION} (about 43 MB)")
        (home / ".complete").write_text(KAFKA_VERSION)
    return home


def resolve_elasticsearch(say: Callable[[str], None] = print, cache: Path | None = None) -> Path:
    """The unpacked Elasticsearch distribution, resolved on first use."""
    return _resolve(elasticsearch_home(cache), "elasticsearch.pom.xml", ["dependency:unpack-dependencies"], say,
                    f"Elasticsearch {ELASTICSEARCH_VERSION} (about 100 MB)")
