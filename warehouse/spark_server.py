"""A local Spark Connect server: Weixi's Spark engine on one machine, as a cluster would offer it.

One long-running JVM (pyspark's own ``spark-submit`` of ``SparkConnectServer``) with a Hive
catalog (an embedded Derby metastore) and its tables under ``spark.sql.warehouse.dir``. Every
client of a run talks to it over Spark Connect: dbt (``SPARK_REMOTE``, session method) and the
Python assets (``WEIXI_SPARK_CONNECT_URL``). A second JVM on the same Derby metastore would fail,
hence one server, not a session per process.

    weixi spark-server start | status | stop

The server's folder (setting ``spark_server_dir``) holds the metastore, ``server.log`` and
``server.pid``. Nothing here imports pyspark: a missing pyspark or Java is refused by name.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


class SparkServerError(Exception):
    """The local server cannot be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class SparkServer:
    """The local Spark Connect server of one shop: its port, its folder, where its tables live."""

    port: int
    folder: Path
    warehouse_dir: Path
    master: str = "local[2]"
    driver_memory: str = "2g"

    @property
    def url(self) -> str:
        return f"sc://localhost:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    @property
    def pid_path(self) -> Path:
        return self.folder / "server.pid"

    def command(self, spark_home: Path) -> list[str]:
        """The ``spark-submit`` command line of the server."""
        metastore = f"jdbc:derby:;databaseName={self.folder / 'metastore_db'};create=true"
        conf = {
            "spark.sql.catalogImplementation": "hive",
            "spark.hadoop.javax.jdo.option.ConnectionURL": metastore,
            "spark.sql.warehouse.dir": str(self.warehouse_dir),
            # derby.log beside the metastore, not in whatever folder the server started from.
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.folder}",
            "spark.connect.grpc.binding.port": str(self.port),
            # As the DuckDB builds: UTC day boundaries; a small machine's shuffles.
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.shuffle.partitions": "2",
            "spark.ui.enabled": "false",
            # The raw tables' partition column is `_partition_date`, which the Hive metastore's
            # partition filter parser refuses (a leading underscore): Spark prunes instead.
            "spark.sql.hive.metastorePartitionPruning": "false",
            # Each client session keeps the file listing of the tables it read; dbt (sessions
            # of its own) rewrites them, so a long-lived session (the run's Python assets)
            # would read files that are gone. Without the cache, a table is listed per query.
            "spark.sql.filesourceTableRelationCacheSize": "0",
        }
        options = [word for name, value in conf.items() for word in ("--conf", f"{name}={value}")]
        return [
            str(spark_home / "bin" / "spark-submit"),
            "--class",
            SERVER_CLASS,
            "--name",
            "weixi-spark-connect",
            "--master",
            self.master,
            "--driver-memory",
            self.driver_memory,
            *options,
        ]

    def running_pid(self) -> int | None:
        """The pid of this folder's server if it is running, else None (a stale pid file, whose
        pid now names another process, counts as not running)."""
        try:
            pid = int(self.pid_path.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if SERVER_CLASS.encode() in cmdline else None

    def accepts(self) -> bool:
        """Whether something accepts connections on the server's port."""
        with socket.socket() as probe:
            probe.settimeout(1)
            return probe.connect_ex(("localhost", self.port)) == 0

    def start(self, timeout_seconds: float = 180) -> int:
        """Start the server and wait until it accepts connections; returns its pid. A server of
        this folder already running is kept (its pid returned)."""
        running = self.running_pid()
        if running is not None:
            return running
        if self.accepts():
            raise SparkServerError(
                f"port {self.port} is taken by another process; set WEIXI_SPARK_SERVER_PORT to a "
                "free port (and WEIXI_SPARK_CONNECT_URL to match)"
            )
        spark_home = pyspark_home()
        environment = {**os.environ, "SPARK_HOME": str(spark_home), "JAVA_HOME": java_home()}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.warehouse_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                self.command(spark_home),
                cwd=self.folder,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: the server outlives `weixi spark-server start`, and a Ctrl-C
                # of a run in the same terminal does not reach it.
                start_new_session=True,
            )
        self.pid_path.write_text(f"{process.pid}\n")
        self._wait_until_accepting(process, timeout_seconds)
        return process.pid

    def _wait_until_accepting(self, process: subprocess.Popen, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not self.accepts():
            if process.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise SparkServerError(
                    f"the Spark Connect server exited ({process.returncode}) before accepting "
                    f"connections; its log: {self.log_path}\n{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise SparkServerError(
                    f"the Spark Connect server did not accept connections on port {self.port} "
                    f"within {timeout_seconds:.0f} s (stopped); its log: {self.log_path}"
                )
            time.sleep(0.5)

    def stop(self, timeout_seconds: float = 60) -> bool:
        """Stop the server (SIGTERM: Spark closes the metastore and its sessions; SIGKILL after
        ``timeout_seconds``). Returns whether one was running."""
        pid = self.running_pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        while self.running_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.running_pid() == pid:
            os.kill(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)
        return True


def pyspark_home() -> Path:
    """pyspark's installed folder, which holds Spark itself (``bin/spark-submit``, the jars)."""
    found = importlib.util.find_spec("pyspark")
    if found is None or found.origin is None:
        raise SparkServerError(
            "pyspark is not installed in this environment: install Weixi's Spark extra "
            '(pip install -e ".[spark]"; `make test-spark` makes .venv-spark with it)'
        )
    home = Path(found.origin).parent
    if not (home / "bin" / "spark-submit").exists():
        raise SparkServerError(f"{home} has no bin/spark-submit: reinstall pyspark")
    return home


def java_home() -> str:
    """The Java installation Spark runs on: ``JAVA_HOME``, else the ``java`` on the PATH."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java is None:
        raise SparkServerError(
            "no Java found (neither JAVA_HOME nor `java` on the PATH): Spark 4 needs Java 17 or 21"
        )
    return str(Path(java).resolve().parent.parent)


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of the log at ``path`` (empty if there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
