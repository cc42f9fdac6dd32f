"""A failed run alerts: a real failing run in a real instance, the sensor evaluated on it, the
line in the alert log and the JSON posted to a local HTTP server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg

from orchestration.defs.quality.sensors import run_failure_alert
from orchestration.defs.raw import ingest_assets
from orchestration.defs.resources import Landing, Quality, Warehouse


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _failed_run(tmp_path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    day = tmp_path / "landing" / "orders" / "2025-03-01"
    day.mkdir(parents=True)
    (day / "orders.csv").write_text("order_id,customer_id\nO1,C1\n")
    result = dg.materialize(
        [ingest_assets[1]],
        instance=instance,
        partition_key="2025-03-01",
        resources={
            "control": Warehouse(path=str(tmp_path / "w.duckdb")),
            "landing": Landing(root=str(tmp_path / "landing")),
        },
        raise_on_error=False,
    )
    assert not result.success
    return result


def _evaluate(instance, result, quality: Quality) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="weixi_run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"quality": quality},
    ).for_run_failure()
    run_failure_alert(context)


def test_a_failed_run_is_logged_and_posted(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/alerts"
    log = tmp_path / "alerts" / "alerts.log"

    def quality(webhook: str) -> Quality:
        return Quality(
            docs=str(tmp_path / "docs"),
            source_freshness_hours=36,
            timezone="Asia/Shanghai",
            alert_log=str(log),
            alert_webhook_url=webhook,
        )

    try:
        with dg.instance_for_test() as instance:
            result = _failed_run(tmp_path, instance)
            _evaluate(instance, result, quality(url))
            # A webhook that cannot be reached: logged, never a failed sensor.
            _evaluate(instance, result, quality("http://127.0.0.1:9/unreachable"))
    finally:
        server.shutdown()
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert f"run_id={result.run_id}" in lines[0] and "failed_steps=raw__orders" in lines[0]
    assert "missing required column(s) ordered_at, status" in lines[0]
    assert [p["run_id"] for p in _Hook.received] == [result.run_id]
    payload = _Hook.received[0]
    assert payload["failed_steps"] == ["raw__orders"] and payload["job"] == result.job_def.name
    assert payload["text"].startswith("Weixi run failed:") and "ordered_at" in payload["error"]
