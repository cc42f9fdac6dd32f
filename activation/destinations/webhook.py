"""The generic webhook: JSON batches of ``add`` and ``remove`` operations, with retries.

Protocol (docs/destinations.md): ``POST <url>`` with ``Authorization: Bearer <token>``,
``Idempotency-Key: <batch key>`` and a JSON body ``{"audience", "audience_date", "operation",
"members": [{"idempotency_key", "customer_id", ...}]}``. A 2xx response accepts the batch; its
body may list members it refused: ``{"rejected": [{"idempotency_key", "reason"}]}``. Timeouts,
connection errors, 408, 429 and 5xx are retried with exponential backoff; any other 4xx fails
the batch at once (sending it again would not change the answer).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from http.client import HTTPException

RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how to push: the endpoint, its bearer token and the retry policy."""

    url: str
    token: str | None
    batch_size: int = 500
    timeout_seconds: float = 10
    max_attempts: int = 5
    backoff_seconds: float = 1


@dataclass
class PushResult:
    """What the endpoint did with the members of one push."""

    delivered: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0


class _Retry(Exception):
    """A transient failure: the batch is sent again after the backoff."""


class _Fail(Exception):
    """A permanent failure: the batch is not sent again."""


def batch_key(operation: str, keys: Sequence[str]) -> str:
    """The ``Idempotency-Key`` header of a batch: the same members and operation, same key."""
    return hashlib.sha256("\x1f".join([operation, *keys]).encode()).hexdigest()[:32]


class WebhookClient:
    """Pushes members to one endpoint; ``sleep`` is injectable so tests need not wait."""

    def __init__(self, config: WebhookConfig, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.sleep = sleep

    def push(
        self, audience: str, audience_date: date, operation: str, members: Sequence[dict]
    ) -> PushResult:
        """Send ``members`` (each with an ``idempotency_key``) in batches; every member ends
        up delivered, rejected (with the endpoint's reason) or failed (with the last error)."""
        result = PushResult()
        size = self.config.batch_size
        for start in range(0, len(members), size):
            batch = list(members[start : start + size])
            keys = [m["idempotency_key"] for m in batch]
            body = {
                "audience": audience,
                "audience_date": audience_date.isoformat(),
                "operation": operation,
                "members": batch,
            }
            try:
                rejected = self._send(body, batch_key(operation, keys), result)
            except _Fail as exc:
                result.failed.update(dict.fromkeys(keys, str(exc)))
                continue
            known = set(keys)
            rejected = {k: r for k, r in rejected.items() if k in known}
            result.rejected.update(rejected)
            result.delivered.extend(k for k in keys if k not in rejected)
        return result

    def _send(self, body: dict, key: str, result: PushResult) -> dict[str, str]:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        last = ""
        for attempt in range(1, self.config.max_attempts + 1):
            if attempt > 1:
                self.sleep(self.config.backoff_seconds * 2 ** (attempt - 2))
            result.requests += 1
            try:
                return self._post(data, headers)
            except _Retry as exc:
                last = str(exc)
        raise _Fail(f"gave up after {self.config.max_attempts} attempts: {last}")

    def _post(self, data: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = urllib.request.Request(self.config.url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code >= 500 or exc.code in RETRY_STATUSES:
                raise _Retry(reason) from None
            raise _Fail(reason) from None
        except (TimeoutError, urllib.error.URLError, HTTPException, OSError) as exc:
            raise _Retry(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
        return _rejections(text)


def _rejections(text: bytes) -> dict[str, str]:
    if not text.strip():
        return {}
    try:
        answer = json.loads(text)
    except ValueError:
        return {}
    rejected = answer.get("rejected", []) if isinstance(answer, dict) else []
    return {
        str(r["idempotency_key"]): str(r.get("reason", "rejected"))
        for r in rejected
        if isinstance(r, dict) and "idempotency_key" in r
    }
