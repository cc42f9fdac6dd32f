"""A real local HTTP endpoint for webhook tests: it fails, times out and rejects on purpose.

``WebhookServer`` runs a ``ThreadingHTTPServer`` on a free port in a thread. The first attempt
of a batch (by its ``Idempotency-Key`` header) may answer 500 or be processed and then answered
too late (the client times out and retries); members are stored once per idempotency key, as a
real endpoint deduplicates; members of ``reject`` customers are refused with a reason.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    """How the endpoint misbehaves. Batches are picked by the hash of their key, so the same
    batch misbehaves the same way on every run."""

    fail_share: float = 0.0
    slow_share: float = 0.0
    slow_seconds: float = 0.0
    reject: set[str] = field(default_factory=set)
    always_status: int | None = None


class WebhookServer:
    """The endpoint, its request log and what it holds (customer ids per audience)."""

    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        self.requests: list[dict] = []
        self.members: dict[str, dict] = {}
        self.seen_batches: set[str] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/audiences"

    def __enter__(self) -> WebhookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def holding(self, audience: str) -> set[str]:
        """Customers the endpoint holds in ``audience``: added and not removed since."""
        held: set[str] = set()
        for member in sorted(self.members.values(), key=lambda m: m["_order"]):
            if member["_audience"] != audience:
                continue
            if member["_operation"] == "add":
                held.add(member["customer_id"])
            else:
                held.discard(member["customer_id"])
        return held

    def _first_attempt_fate(self, key: str) -> str:
        share = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16**8
        b = self.behaviour
        if share < b.fail_share:
            return "fail"
        if share < b.fail_share + b.slow_share:
            return "slow"
        return "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key", "")
                with outer.lock:
                    outer.requests.append(
                        {
                            "key": key,
                            "authorization": self.headers.get("Authorization"),
                            "body": body,
                        }
                    )
                    first = key not in outer.seen_batches
                    outer.seen_batches.add(key)
                b = outer.behaviour
                if b.always_status is not None:
                    return self._answer(b.always_status, {"error": "refused"})
                fate = outer._first_attempt_fate(key) if first else "ok"
                if fate == "fail":
                    return self._answer(500, {"error": "try again"})
                rejected = outer._accept(body)
                if fate == "slow":
                    time.sleep(b.slow_seconds)  # processed, but the answer comes too late
                return self._answer(200, {"rejected": rejected})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

        return Handler

    def _accept(self, body: dict) -> list[dict]:
        rejected = []
        with self.lock:
            for member in body["members"]:
                if member["customer_id"] in self.behaviour.reject and body["operation"] == "add":
                    rejected.append(
                        {"idempotency_key": member["idempotency_key"], "reason": "invalid address"}
                    )
                    continue
                self.members.setdefault(
                    member["idempotency_key"],
                    {
                        **member,
                        "_audience": body["audience"],
                        "_operation": body["operation"],
                        "_order": len(self.members),
                    },
                )
        return rejected
