"""The webhook client against a real local HTTP server that fails, times out and rejects."""

from datetime import date

from activation.destinations.webhook import WebhookClient, WebhookConfig
from tests.support.webhook_server import Behaviour, WebhookServer

DAY = date(2025, 12, 30)
TIMEOUT = 0.3


def _members(n: int) -> list[dict]:
    return [{"idempotency_key": f"k{i:04d}", "customer_id": f"C{i:04d}"} for i in range(n)]


def _client(url: str, waits: list[float], **config: object) -> WebhookClient:
    settings = {"token": "s3cret", "batch_size": 10, "timeout_seconds": TIMEOUT}
    settings.update(config)
    return WebhookClient(WebhookConfig(url=url, **settings), sleep=waits.append)


def test_failures_and_timeouts_are_retried_until_every_member_arrives_once():
    behaviour = Behaviour(
        fail_share=0.3, slow_share=0.3, slow_seconds=TIMEOUT + 0.3, reject={"C0007", "C0042"}
    )
    waits: list[float] = []
    with WebhookServer(behaviour) as server:
        result = _client(server.url, waits, backoff_seconds=0.5).push(
            "welcome", DAY, "add", _members(100)
        )
        statuses = len(server.requests)
    assert result.rejected == {"k0007": "invalid address", "k0042": "invalid address"}
    assert sorted(result.delivered) == sorted(
        m["idempotency_key"] for m in _members(100) if m["customer_id"] not in {"C0007", "C0042"}
    )
    assert not result.failed
    assert len(server.members) == 98  # stored once per key although some batches came twice
    assert statuses == result.requests > 10  # ten batches, some sent more than once
    assert waits and set(waits) == {0.5}  # one retry per misbehaving batch, first backoff
    assert {r["authorization"] for r in server.requests} == {"Bearer s3cret"}
    assert len({r["key"] for r in server.requests}) == 10


def test_backoff_doubles_and_gives_up_after_max_attempts():
    waits: list[float] = []
    with WebhookServer(Behaviour(always_status=503)) as server:
        result = _client(server.url, waits, max_attempts=4, backoff_seconds=0.1).push(
            "welcome", DAY, "add", _members(5)
        )
        requests = len(server.requests)
    assert requests == 4 and waits == [0.1, 0.2, 0.4]
    assert set(result.failed) == {m["idempotency_key"] for m in _members(5)}
    assert "503" in next(iter(result.failed.values()))


def test_a_400_fails_the_batch_without_retry():
    waits: list[float] = []
    with WebhookServer(Behaviour(always_status=400)) as server:
        result = _client(server.url, waits, max_attempts=5).push(
            "welcome", DAY, "add", _members(25)
        )
        requests = len(server.requests)
    assert requests == 3 and waits == []  # three batches, one request each
    assert len(result.failed) == 25 and not result.delivered


def test_connection_refused_is_retried_then_fails():
    waits: list[float] = []
    server = WebhookServer()
    url = server.url
    server.server.server_close()  # nothing listens on the port any more
    result = _client(url, waits, max_attempts=3, backoff_seconds=0).push(
        "welcome", DAY, "add", _members(2)
    )
    assert len(result.failed) == 2 and result.requests == 3
