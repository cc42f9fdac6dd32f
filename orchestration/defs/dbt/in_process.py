"""dbt in the Dagster process: dagster-dbt's dbt commands without a process of their own.

dagster-dbt runs each dbt command as a subprocess and reads the JSON log lines it prints. Each
process pays Python's start, dbt's imports and the project's partial parse before its first
model: about 3 CPU-s, and a run makes four to six of them (at 1M customers, 14 of the core's
~305 CPU-s). Within :func:`dbt_in_this_process` the process dagster-dbt starts is a
:class:`DbtThread` instead: the same arguments and environment handed to dbt's own runner
(``dbtRunner``) in a thread of this process, its events given to dagster-dbt as the same JSON
lines as they happen, and the project parsed once per process for each set of arguments while
its files are unchanged.

DuckDB only: dbt-duckdb's database is closed after each command, so the Python steps that
follow (and other processes) open the warehouse as before. A dbt on Spark keeps its process.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster_dbt.core import dbt_cli_invocation

from orchestration.defs.dbt.project import NOT_SOURCES

_PROJECT_FILES = (".yml", ".yaml", ".sql", ".md", ".csv", ".py", ".jinja")
_FOLDERS = ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_PROJECT_DIR", "DBT_PROFILES_DIR")
_SUBCOMMANDS = frozenset({"build", "run", "test", "seed", "snapshot", "compile", "show"})
"""The commands that start from a parsed project (a `parse` parses itself)."""
_PARSE_OPTIONS = frozenset({"--vars", "--target", "--profile", "--profiles-dir", "--project-dir"})
"""The options of a command that change what dbt parses (the others select or run)."""
KEPT = 4
"""Parsed projects kept: a run uses one or two sets of vars (see ``WeixiDbt.vars_for``)."""
_LOCK = threading.Lock()
_manifests: dict[tuple, Any] = {}
"""The parsed project of each set of parse arguments and files (see ``_manifest``)."""


@contextmanager
def dbt_in_this_process() -> Iterator[None]:
    """Within the block, the dbt process dagster-dbt starts is a :class:`DbtThread`."""
    started = dbt_cli_invocation.subprocess
    dbt_cli_invocation.subprocess = types.SimpleNamespace(
        Popen=DbtThread, PIPE=subprocess.PIPE, STDOUT=subprocess.STDOUT
    )
    try:
        yield
    finally:
        dbt_cli_invocation.subprocess = started


class DbtThread:
    """A dbt command run by ``dbtRunner`` in a thread, with what dagster-dbt reads of the
    ``subprocess.Popen`` it would have started: ``args``, ``stdout`` (the command's JSON log
    lines), ``wait``, ``returncode`` and ``send_signal``.

    While the command runs, this process's environment is the command's (see ``_enter``), put
    back when it ends. A run executes its steps one after the other in one process, so no other
    step sees it."""

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        **_: Any,
    ) -> None:
        self.args = list(args)
        self.returncode: int | None = None
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.stdout = _Lines(self._lines)
        self._printed = _Printed(self._lines)
        self._restore = _enter(env, cwd)
        self._thread = threading.Thread(target=self._run, name="dbt", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import capture_stdout_logs, stop_capture_stdout_logs

        try:
            with _LOCK:
                manifest = _manifest(self.args[1:])
                # dbt's console logger writes to the capture stream instead of this process's
                # stdout: the lines, levels and filters of a dbt process, secrets scrubbed.
                capture_stdout_logs(self._printed)
                try:
                    result = dbtRunner(manifest=manifest).invoke(self.args[1:])
                finally:
                    stop_capture_stdout_logs()
            self.returncode = 0 if result.success else 1 if result.exception is None else 2
            if result.exception is not None:
                self._lines.put(_error_line(result.exception))
        except BaseException as exc:  # noqa: BLE001 - told to dagster-dbt as a failed process
            self.returncode = 2
            self._lines.put(_error_line(exc))
        finally:
            try:
                _close_duckdb()
            finally:
                self._lines.put(None)

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        if not self._thread.is_alive() and self._restore is not None:
            self._restore()
            self._restore = None
        return self.returncode

    def send_signal(self, signal: int) -> None:
        """Nothing: a thread cannot be signalled. dagster-dbt waits a while for the command and
        the step then stops; the command ends with the process, as a killed dbt would."""


def _error_line(error: BaseException) -> bytes:
    """A log line of dbt's that makes dagster-dbt name ``error`` as the command's failure."""
    info = {"name": "MainEncounteredError", "level": "error", "msg": f"dbt failed: {error!r}"}
    return json.dumps({"info": info, "data": {}}).encode()


class _Printed:
    """What dbt prints, as the lines of a :class:`DbtThread`'s stdout."""

    def __init__(self, lines: queue.SimpleQueue[bytes | None]) -> None:
        self._lines = lines
        self._part = ""

    def write(self, text: str) -> int:
        *whole, self._part = (self._part + text).split("\n")
        for line in whole:
            self._lines.put(line.encode())
        return len(text)

    def flush(self) -> None:
        pass


class _Lines:
    """The stdout of a :class:`DbtThread`: its lines until the command ends."""

    def __init__(self, lines: queue.SimpleQueue[bytes | None]) -> None:
        self._lines = lines
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.closed:
            line = self._lines.get()
            if line is None:
                self.closed = True
                return
            yield line

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *_: object) -> None:
        self.closed = True


def _enter(env: dict[str, str] | None, cwd: str | os.PathLike | None):
    """Give this process the environment ``env`` of a dbt process started in ``cwd``; returns
    what puts the environment back.

    The working folder stays: dagster-dbt changes it only while it starts the process, and
    dbt reads its folders from the environment (made absolute here: dbt would take a relative
    log folder from this process's working folder)."""
    before = dict(os.environ)
    folder = Path(cwd) if cwd is not None else Path.cwd()
    os.environ.clear()
    os.environ.update(before if env is None else env)
    for name in _FOLDERS:
        if name in os.environ:
            os.environ[name] = str(folder / os.environ[name])

    def restore() -> None:
        os.environ.clear()
        os.environ.update(before)

    return restore


def _manifest(args: list[str]) -> Any:
    """The parsed project for the command ``args``: parsed by ``dbt parse`` with the same
    parse options the first time (dbt's partial parse then writes its file, which
    ``parse_cache`` keeps), and reused while no project file changed. None when ``args``
    is no command of the project or the parse fails: the command then parses itself, and
    reports what failed."""
    from dbt.cli.main import dbtRunner

    command = next((i for i, arg in enumerate(args) if arg in _SUBCOMMANDS), None)
    if command is None:
        return None
    options = [
        part
        for i, arg in enumerate(args[command + 1 :], start=command + 1)
        if arg in _PARSE_OPTIONS and i + 1 < len(args)
        for part in (arg, args[i + 1])
    ]
    project = Path(os.environ.get("DBT_PROJECT_DIR", os.getcwd()))
    key = (tuple(args[:command]), tuple(options), str(project), _files_state(project))
    if key not in _manifests:
        parsed = dbtRunner().invoke([*args[:command], "parse", *options], log_level="none")
        if not parsed.success:
            return None
        _manifests[key] = parsed.result
        while len(_manifests) > KEPT:  # the oldest first
            del _manifests[next(iter(_manifests))]
    return _manifests[key]


def _files_state(project: Path) -> tuple:
    """When and how large each file dbt parses in ``project`` last was (not what dbt writes
    there: ``NOT_SOURCES``, ``.user.yml``)."""
    state = []
    for folder, subfolders, files in os.walk(project):
        if folder == str(project):
            subfolders[:] = [name for name in subfolders if name not in NOT_SOURCES]
        for name in files:
            if name.endswith(_PROJECT_FILES) and not name.startswith("."):
                stat = os.stat(os.path.join(folder, name))
                state.append((folder, name, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(state))


def _close_duckdb() -> None:
    """Close dbt-duckdb's database, which it keeps open for the next command of the process:
    the steps after dbt open the warehouse with their own settings, and DuckDB refuses a second
    configuration of an open file (other processes, its lock)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        if environment is not None:
            environment.close()
        DuckDBConnectionManager.close_all_connections()
