"""A failed run alerts: one line in ``WEIXI_ALERT_LOG`` and, when ``WEIXI_ALERT_WEBHOOK_URL`` is
set, a JSON POST to it (Slack-style ``text`` plus the fields). The sensor runs in the Dagster
daemon (``make dev`` starts one) and watches every job of the code location, the nightly run
included. A webhook that cannot be reached is logged and never fails the sensor: the line in the
log is written first.
"""

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg

from orchestration.defs.resources import Quality

WEBHOOK_TIMEOUT_SECONDS = 10
ERROR_SUMMARY_CHARS = 500


@dataclass(frozen=True)
class RunFailureAlert:
    """What the person on call needs first: when, which job and run, which steps, why."""

    time: str
    job: str
    run_id: str
    failed_steps: list[str]
    error: str

    def line(self) -> str:
        """The alert as one log line."""
        steps = ", ".join(self.failed_steps) or "none"
        return (
            f"{self.time} RUN FAILED job={self.job} run_id={self.run_id} "
            f"failed_steps={steps} error={self.error}"
        )

    def payload(self) -> dict[str, object]:
        """The webhook body: ``text`` for chat tools, and every field."""
        return {"text": f"Weixi run failed: {self.line()}", **asdict(self)}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def alert_from_context(context: dg.RunFailureSensorContext) -> RunFailureAlert:
    """The alert of the failed run in ``context``."""
    steps, errors = [], []
    for event in context.get_step_failure_events():
        steps.append(event.step_key or "?")
        data = event.step_failure_data
        message = ""
        if data.user_failure_data is not None and data.user_failure_data.description:
            message = data.user_failure_data.description
        elif data.error is not None:
            message = data.error.message
        errors.append(f"{event.step_key}: {_one_line(message)}")
    error = "; ".join(errors) or _one_line(context.failure_event.message or "")
    return RunFailureAlert(
        time=datetime.now().astimezone().isoformat(timespec="seconds"),
        job=context.dagster_run.job_name,
        run_id=context.dagster_run.run_id,
        failed_steps=steps,
        error=error[:ERROR_SUMMARY_CHARS],
    )


def write_alert(alert: RunFailureAlert, log_path: Path) -> None:
    """Append the alert's line to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write(alert.line() + "\n")


def post_alert(alert: RunFailureAlert, url: str) -> str | None:
    """POST the alert's payload to ``url``; returns None on success, else what went wrong."""
    request = urllib.request.Request(
        url,
        data=json.dumps(alert.payload(), ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@dg.run_failure_sensor(
    name="weixi_run_failure_alert",
    description="Write every failed run to the alert log and post it to the alert webhook.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_failure_alert(context: dg.RunFailureSensorContext, quality: Quality) -> None:
    """Alert on a failed run (see the module docstring)."""
    alert = alert_from_context(context)
    write_alert(alert, Path(quality.alert_log))
    context.log.info(f"alert written to {quality.alert_log}: {alert.line()}")
    if quality.alert_webhook_url:
        problem = post_alert(alert, quality.alert_webhook_url)
        if problem:
            # Never the URL itself in the log: it often carries a secret token.
            context.log.warning(f"alert webhook not reached: {problem}")
