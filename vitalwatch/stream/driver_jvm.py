"""The Spark driver's JVM: started in its own session, its output in a log file.

PySpark starts the driver JVM (``spark-submit``, then ``java``) as a child in vitalwatch's
process group, where it shares every signal sent to the group: ``timeout``, ``kill -TERM
-<pgid>`` or a service manager stopping the group killed the JVM under the daemon, which then
ended in Java stack traces and py4j ``ConnectionRefusedError`` tracebacks instead of draining.
Here it starts in a session of its own, so only the daemon decides when it stops; it still ends
with vitalwatch, as before: PySpark keeps a pipe to its standard input, and the JVM exits when
that pipe closes, even after a ``kill -9`` of vitalwatch.

Its output is kept off the console. Its standard error is the Spark log file
(``<state_dir>/logs/spark.log``): Spark's log4j lines at WARN and above (``Current batch is
falling behind``, the state server's warnings), the Python workers' output (Spark copies it to
its standard error), and whatever else the JVM prints. Its standard output is vitalwatch's
standard error, where log4j writes one line per ERROR (see ``infra/spark_log4j2.properties``).
An operator's own ``-Dlog4j2.configurationFile`` in ``spark.driver.extraJavaOptions`` wins.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.java_gateway import launch_gateway

SPARK_LOG4J = Path(__file__).parent.parent / "infra" / "spark_log4j2.properties"
# At start-up a longer log is kept as ``spark.log.1`` (replacing the one before), so a long-lived
# service does not fill its state directory; the run before a crash is kept whole.
ROTATE_AT_BYTES = 50 * 1024 * 1024
_EXTRA_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


def spark_log_file(state_dir: Path) -> Path:
    return state_dir / "logs" / "spark.log"


def driver_java_options(log_file: Path, configured: str | None) -> str:
    """Our log4j configuration first, so that options the operator configured come after it and
    win (of two ``-D`` of one property, the JVM keeps the last)."""
    ours = f"-Dlog4j2.configurationFile={SPARK_LOG4J} -Dvitalwatch.spark.log={log_file}"
    return f"{ours} {configured}" if configured else ours


def with_driver_logging(options: dict[str, str], log_file: Path) -> dict[str, str]:
    return {
        **options,
        _EXTRA_JAVA_OPTIONS: driver_java_options(log_file, options.get(_EXTRA_JAVA_OPTIONS)),
    }


def launch_driver_jvm(options: dict[str, str], log_file: Path) -> None:
    """Start the driver JVM with ``options`` (set at its launch: memory, jars, Java options),
    unless this process has one already (PySpark keeps one gateway per process; a later session
    reuses it, as ``SparkSession.builder`` does)."""
    if SparkContext._gateway is not None:
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if log_file.stat().st_size > ROTATE_AT_BYTES:
            log_file.replace(log_file.with_name(log_file.name + ".1"))
    conf = SparkConf(loadDefaults=False).setAll(list(options.items()))
    with log_file.open("ab") as log:
        gateway = launch_gateway(
            conf, popen_kwargs={"stdout": 2, "stderr": log, "start_new_session": True}
        )
    # SparkContext takes a gateway only through its constructor; the session's builder then
    # finds this context and uses it.
    SparkContext(conf=conf, gateway=gateway)
