"""The driver JVM's Java options: vitalwatch's log set-up first, the operator's own after it."""

from __future__ import annotations

from pathlib import Path

from vitalwatch.stream.driver_jvm import SPARK_LOG4J, spark_log_file, with_driver_logging


def test_the_spark_log_is_under_the_state_directory() -> None:
    assert spark_log_file(Path("/srv/vw")) == Path("/srv/vw/logs/spark.log")
    assert SPARK_LOG4J.is_file()


def test_an_operators_own_java_options_come_after_ours_and_so_win() -> None:
    log = Path("/srv/vw/logs/spark.log")
    own = {"spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile=/etc/mine.xml -Xss4m"}
    options = with_driver_logging({"spark.master": "local[2]", **own}, log)
    java = options["spark.driver.extraJavaOptions"].split()
    assert java == [
        f"-Dlog4j2.configurationFile={SPARK_LOG4J}",
        f"-Dvitalwatch.spark.log={log}",
        "-Dlog4j2.configurationFile=/etc/mine.xml",
        "-Xss4m",
    ]
    assert options["spark.master"] == "local[2]"
    assert with_driver_logging({}, log)["spark.driver.extraJavaOptions"] == " ".join(java[:2])
