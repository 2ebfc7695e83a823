"""Every Kafka client of newsmon is built here, from settings: brokers, security, group timings.

Two client families connect to Kafka: kafka-python (producers, sink, notifier, status, topic admin) and
aiokafka under Faust (the processor app, `processors/app.py`). Both get their security options from
this module only: `security_options` (kafka-python keyword arguments) and `faust_credentials`
(`broker_credentials` of the Faust app). `make_producer` / `make_consumer` / `make_admin` are the only
way the stages build kafka-python clients (a test checks that no other module calls the constructors).

Before the first client of a secured configuration is built, `check_credentials` connects once
(aiokafka, which reads the broker's answer to a failed SASL authentication) and raises
`KafkaAuthError` with one clear line when the broker refuses the credentials. kafka-python 3.0 drops
that answer when the broker closes the connection right after it (its socket reader discards data
received together with the EOF), so on its own it retries until "Unable to bootstrap" after 30 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import threading
from typing import Any

from newsmon.settings import SASL_PROTOCOLS, SSL_PROTOCOLS, Settings

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
CHECK_TIMEOUT_S = 10.0

_checked: set[str] = set()  # fingerprints of configurations whose credentials the broker accepted
_checked_lock = threading.Lock()


class KafkaAuthError(RuntimeError):
    """The broker refused the configured credentials (or TLS certificate); the message is one line and
    never contains the password. Not a `KafkaError`: retrying with the same credentials cannot help."""


# --- security options per client family -------------------------------------------------------------


def sasl_password(settings: Settings) -> str:
    """The SASL password in clear, for the client that sends it (settings refuse SASL without one)."""
    secret = settings.kafka_sasl_secret
    if secret is None:
        raise ValueError("SASL needs KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)")
    return secret.get_secret_value()


def security_options(settings: Settings) -> dict[str, Any]:
    """kafka-python keyword arguments (`KafkaProducer`, `KafkaConsumer`, `KafkaAdminClient`)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in SASL_PROTOCOLS:
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=sasl_password(settings))
    if protocol in SSL_PROTOCOLS:
        for option, path in (("ssl_cafile", settings.kafka_ssl_cafile), ("ssl_certfile", settings.kafka_ssl_certfile),
                             ("ssl_keyfile", settings.kafka_ssl_keyfile)):
            if path is not None:
                options[option] = str(path)
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of aiokafka/Faust clients (None without TLS): verifies the broker against
    `KAFKA_SSL_CAFILE` (else the system's CAs), presents the client certificate when one is set."""
    if settings.kafka_security_protocol not in SSL_PROTOCOLS:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(str(settings.kafka_ssl_certfile),
                                str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None)
    return context


def aiokafka_security_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments (what Faust derives from `faust_credentials`)."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol,
                               "ssl_context": ssl_context(settings)}
    if settings.kafka_security_protocol in SASL_PROTOCOLS:
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=sasl_password(settings))
    return options


def faust_credentials(settings: Settings):
    """The Faust app's `broker_credentials`: `SASLCredentials` (with a TLS context for SASL_SSL),
    `SSLCredentials`, or None for PLAINTEXT. Faust hands them to every aiokafka client it creates."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol in SASL_PROTOCOLS:
        return faust.SASLCredentials(username=settings.kafka_sasl_username,
                                     password=sasl_password(settings),
                                     ssl_context=ssl_context(settings), mechanism=settings.kafka_sasl_mechanism)
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return None


# --- kafka-python clients ----------------------------------------------------------------------------


def client_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Options every kafka-python client gets: the brokers and the security options, then `overrides`."""
    return {"bootstrap_servers": settings.kafka_bootstrap_servers or DEFAULT_BOOTSTRAP,
            **security_options(settings), **overrides}


def consumer_config(settings: Settings, group_id: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    """kafka-python `KafkaConsumer` options: manual commits, group timings and fetch wait from settings.

    A group (re)join waits up to the rebalance timeout, which kafka-python takes from
    `max_poll_interval_ms`; the fetch wait bounds how long an idle fetch is held by the broker.
    """
    return client_options(
        settings, group_id=group_id, client_id=client_id,
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_interval_ms=int(settings.broker_rebalance_timeout_s * 1000),
        session_timeout_ms=int(settings.broker_session_timeout_s * 1000),
        heartbeat_interval_ms=max(100, int(settings.broker_session_timeout_s * 1000 / 4)),
        fetch_max_wait_ms=settings.fetch_max_wait_ms, **overrides)


def make_producer(settings: Settings, **config: Any):
    """A kafka-python `KafkaProducer` for the configured brokers and security (`config` adds options)."""
    from kafka import KafkaProducer

    check_credentials(settings)
    return KafkaProducer(**client_options(settings, **config))


def make_consumer(settings: Settings, *topics: str, **config: Any):
    """A kafka-python `KafkaConsumer` (subscribed to `topics`, if any) for the configured brokers and security."""
    from kafka import KafkaConsumer

    check_credentials(settings)
    return KafkaConsumer(*topics, **client_options(settings, **config))


def make_admin(settings: Settings, **config: Any):
    """A kafka-python `KafkaAdminClient` for the configured brokers and security."""
    from kafka import KafkaAdminClient

    check_credentials(settings)
    return KafkaAdminClient(**client_options(settings, **config))


# --- credentials check -------------------------------------------------------------------------------


def check_credentials(settings: Settings, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Raise `KafkaAuthError` if a broker refuses the configured credentials or TLS certificate.

    PLAINTEXT needs no check. Otherwise one bootstrap broker is asked once per process and
    configuration (a success is remembered). A broker that cannot be reached is not an authentication
    failure: the check then returns and the client reports (and retries) the outage as usual.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    key = _fingerprint(settings)
    with _checked_lock:
        if key in _checked:
            return
    outcome: list[BaseException | bool] = []
    worker = threading.Thread(target=lambda: outcome.append(_run_check(settings, timeout_s)),
                              name="newsmon-kafka-auth-check", daemon=True)
    worker.start()  # its own thread and loop: callers may run inside an event loop (Faust) or not
    worker.join(timeout_s + 5)
    result = outcome[0] if outcome else False
    if isinstance(result, KafkaAuthError):
        raise KafkaAuthError(str(result)) from None
    if result is True:
        with _checked_lock:
            _checked.add(key)


def _fingerprint(settings: Settings) -> str:
    secret = settings.kafka_sasl_secret
    parts = [settings.kafka_bootstrap_servers or DEFAULT_BOOTSTRAP, settings.kafka_security_protocol,
             settings.kafka_sasl_mechanism, settings.kafka_sasl_username or "",
             secret.get_secret_value() if secret is not None else "",
             *(str(p or "") for p in (settings.kafka_ssl_cafile, settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _run_check(settings: Settings, timeout_s: float) -> BaseException | bool:
    """True when a broker accepted the connection, a `KafkaAuthError` when it refused the credentials,
    False when no broker could be asked (down, unreachable, timed out)."""
    try:
        return asyncio.run(asyncio.wait_for(_check(settings, timeout_s), timeout_s))
    except KafkaAuthError as exc:
        return exc
    except Exception:  # noqa: BLE001 - an outage is the client's to report, not this check's
        return False


async def _check(settings: Settings, timeout_s: float) -> bool:
    from aiokafka import errors as aio_errors
    from aiokafka.conn import create_conn

    refused = (aio_errors.SaslAuthenticationFailed, aio_errors.AuthenticationFailedError,
               aio_errors.UnsupportedSaslMechanismError, aio_errors.IllegalSaslStateError)
    options = aiokafka_security_options(settings)
    for server in (settings.kafka_bootstrap_servers or DEFAULT_BOOTSTRAP).split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with _quiet_clear_text_warning():
                conn = await create_conn(host.strip("[]"), int(port), client_id="newsmon-auth-check",
                                         request_timeout_ms=int(timeout_s * 1000), **options)
        except refused as exc:
            raise KafkaAuthError(_refusal(settings, server.strip(), _broker_reason(exc))) from None
        except ssl.SSLCertVerificationError as exc:
            raise KafkaAuthError(f"Kafka at {server.strip()}: TLS certificate verification failed "
                                 f"({exc.verify_message or exc.reason}); check KAFKA_SSL_CAFILE") from None
        except Exception:  # noqa: BLE001 - unreachable: try the next bootstrap server
            continue
        conn.close()
        return True
    return False


def _refusal(settings: Settings, server: str, reason: str) -> str:
    return (f"Kafka at {server}: authentication failed (SASL {settings.kafka_sasl_mechanism} over "
            f"{settings.kafka_security_protocol}, user {settings.kafka_sasl_username!r}): {reason}")


def _broker_reason(exc: BaseException) -> str:
    """The broker's own words: `[Error 58] SaslAuthenticationFailed: Authentication failed: ...` ->
    `Authentication failed: ...`."""
    text = str(exc)
    head, sep, rest = text.partition("]")
    if sep and head.startswith("[Error"):
        text = rest.split(":", 1)[-1].strip() or text
    return text or type(exc).__name__


class _quiet_clear_text_warning:
    """aiokafka warns on every PLAIN handshake over SASL_PLAINTEXT; the check's own handshake should
    not add that line (the clients it precedes log it once each anyway)."""

    class _Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "in the clear" not in record.getMessage()

    def __enter__(self):
        self.filter = self._Filter()
        logging.getLogger("aiokafka.conn").addFilter(self.filter)
        return self

    def __exit__(self, *exc):
        logging.getLogger("aiokafka.conn").removeFilter(self.filter)
        return False
