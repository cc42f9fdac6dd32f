"""The `weixi` command in a process of its own, as a user or a service manager starts it, with
every folder it writes (warehouse, Dagster home, Data Docs, models, exports) under one of the
test's."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from orchestration.settings import PROJECT_ROOT, shop_environment

WEIXI = str(Path(sys.executable).with_name("weixi"))


def weixi_env(folder: Path) -> dict[str, str]:
    """The environment of a `weixi` process that writes only under ``folder``."""
    return {**os.environ, **shop_environment(folder)}


def run_weixi(folder: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``weixi *args`` writing under ``folder``, to its end."""
    return subprocess.run(
        [WEIXI, *args],
        cwd=PROJECT_ROOT,
        env=weixi_env(folder),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class WeixiRun:
    """A `weixi run` in the background whose stderr lines are collected as they come."""

    def __init__(self, landing: Path, folder: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [WEIXI, "run", "--landing", str(landing), *args],
            cwd=PROJECT_ROOT,
            env=weixi_env(folder),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 300) -> int:
        """Wait until a stderr line contains ``text``; the number of lines seen by then."""
        waited = 0.0
        while waited < timeout:
            for i, line in enumerate(self.lines):
                if text in line:
                    return i + 1
            assert self.process.poll() is None, "\n".join(self.lines[-20:])
            threading.Event().wait(0.1)
            waited += 0.1
        raise AssertionError(f"no line with {text!r}:\n" + "\n".join(self.lines[-20:]))

    def finish(self, timeout: float = 900) -> int:
        """Wait for the process to end; its exit status."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code
