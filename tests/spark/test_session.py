"""The Spark session vitalwatch starts: the JVM runs with the options it was given."""

from __future__ import annotations

import pytest

from vitalwatch.stream.session import JIT_OPTIONS

pytestmark = pytest.mark.spark


def test_the_driver_jvm_compiles_huge_methods(spark) -> None:
    """The flag reaches the running JVM (not only the configuration), for the driver, which is
    also the executor of a local master, and is asked of a cluster's executors."""
    bean = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert JIT_OPTIONS in list(bean.getInputArguments())
    conf = spark.sparkContext.getConf()
    assert JIT_OPTIONS in conf.get("spark.executor.extraJavaOptions").split()
