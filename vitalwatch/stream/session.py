"""Build the SparkSession with the settings that matter for this job.

- RocksDB state store: required by ``transformWithState``, and keeps state off the JVM heap;
  with changelog checkpointing, or every batch pays a full snapshot sync.
- ``spark.sql.shuffle.partitions`` sized to the cores (default 200 is 13-15x slower on 2 cores).
- The checkpoint written through Hadoop's FileSystem API: ~150 ms less per micro-batch.
- The Kafka connector from the local jar cache (``spark.jars``), so start-up needs no network.
- The driver JVM in its own session, its log in ``<state_dir>/logs/spark.log`` (``driver_jvm``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from vitalwatch.infra.jarsets import spark_kafka_connector_jars
from vitalwatch.infra.java import Java, find_java
from vitalwatch.settings import Settings
from vitalwatch.stream.driver_jvm import launch_driver_jvm, spark_log_file, with_driver_logging

FILE_SYSTEM_CHECKPOINT_MANAGER = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
)


# HotSpot never compiles a method of more than 8,000 bytes of bytecode unless told to, and code
# on the query's path evidently is that large (it ran interpreted). Compiled: 10,000 patients
# x1.13 readings/s, the 2012 backtest 2.5 s shorter (bench/CAPACITY.md, 2026-12-07). Before an
# operator's own options, which win (the JVM keeps the last of two);
# ``spark.sql.codegen.hugeMethodLimit=8000``, Spark's own advice, gave nothing.
JIT_OPTIONS = "-XX:-DontCompileHugeMethods"


def start_spark(settings: Settings) -> SparkSession:
    """The session for the daemon, backtests and tests: a supported JDK, the cached connector."""
    java = find_java()
    return build_spark_session(settings, java, spark_kafka_connector_jars(settings.cache_dir, java))


def build_spark_session(settings: Settings, java: Java, connector_jars: list[Path]) -> SparkSession:
    os.environ["JAVA_HOME"] = str(java.home)  # Spark's launcher starts the JVM from JAVA_HOME
    # PySpark's driver takes the workers' interpreter from PYSPARK_PYTHON (default: ``python3`` on
    # PATH); executors of a cluster from spark.pyspark.python. Both name the same interpreter.
    worker_python = settings.spark.worker_python or sys.executable
    os.environ["PYSPARK_PYTHON"] = worker_python
    # The rule kernels are compiled by numba in each Python worker, or loaded from its cache
    # (~0.4 s instead of seconds). By default numba caches beside the package, which a service
    # cannot write (systemd's ProtectSystem); the workers inherit this from the driver.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(settings.cache_dir / "numba"))
    options = {
        "spark.app.name": "vitalwatch",
        "spark.master": settings.spark.master,
        "spark.jars": ",".join(str(j) for j in connector_jars),
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.pyspark.python": worker_python,
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        # Sync only a small changelog per batch instead of a full snapshot (measured here: commit
        # time per batch fell from ~550 ms to ~290 ms); snapshots are made in the background.
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        # The checkpoint (offsets WAL, commit log, RocksDB state files) written through Hadoop's
        # FileSystem API, not its FileContext (Spark's default): the two log writes fell from
        # ~45 to ~11 ms each and the RocksDB commit from ~75 to ~2 ms a micro-batch; a batch of
        # 20 readings from 0.42 to 0.25 s, 10,000 patients x1.06 (bench/CAPACITY.md,
        # 2026-12-06). Both write a temporary file and rename it; the FileSystem one checks
        # first that the target is absent, which is atomic enough with one writer (a checkpoint
        # has one query). An operator's spark.conf may set another manager (an object store's).
        "spark.sql.streaming.checkpointFileManagerClass": FILE_SYSTEM_CHECKPOINT_MANAGER,
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.streaming.noDataMicroBatches.enabled": "false",
        "spark.sql.adaptive.enabled": "false",
    }  # fmt: skip
    if settings.spark.master.startswith("local"):
        # Keep a local driver on loopback; on a cluster the driver must be reachable instead.
        options["spark.driver.host"] = "127.0.0.1"
        options["spark.driver.bindAddress"] = "127.0.0.1"
    options.update(settings.spark.conf)
    for java_options in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        options[java_options] = f"{JIT_OPTIONS} {options.get(java_options, '')}".rstrip()
    log_file = spark_log_file(settings.state_dir)
    options = with_driver_logging(options, log_file)
    with _own_sigint_handler():
        launch_driver_jvm(options, log_file)
        session = SparkSession.builder.config(map={**options}).getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    # The streaming query manager registers the state-store coordinator, which batch runs of
    # transformWithState (backtests over history) need as well.
    _ = session.streams
    return session


@contextmanager
def _own_sigint_handler() -> Iterator[None]:
    """Keep a SIGINT handler installed before Spark starts (the daemon's: drain and stop, as on
    SIGTERM). PySpark's SparkContext replaces it with one that cancels every job and raises
    KeyboardInterrupt wherever the main thread is, so Ctrl-C on ``vitalwatch demo`` ended the
    daemon with a traceback, without draining, while Spark was still writing. Python's default
    handler is left replaced: a backtest interrupted by Ctrl-C cancels its Spark jobs."""
    installed = (
        signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        yield
    finally:
        if callable(installed) and installed is not signal.default_int_handler:
            signal.signal(signal.SIGINT, installed)
