"""The settings a Spark session starts with: the workspace's over the defaults, and a
local master's driver (its only executor) on the throughput collector."""

from __future__ import annotations

from audiencehub.engines.spark import SparkSettings, spark_session

_PARALLEL_GC = "-XX:+UseParallelGC"


def test_a_local_master_runs_on_the_throughput_collector_unless_told_otherwise():
    assert SparkSettings("local[*]").merged()["spark.driver.extraJavaOptions"] == _PARALLEL_GC
    assert SparkSettings("local[2]").merged()["spark.driver.memory"] == "2g"
    # a cluster's driver is not its executors: the JVM's own choice stays
    for master in ("spark://h:7077", "yarn", "local-cluster[2,1,1024]"):
        assert "spark.driver.extraJavaOptions" not in SparkSettings(master).merged()
    assert SparkSettings("local").local and SparkSettings("local[4,2]").local
    own = SparkSettings("local[*]", {"spark.driver.extraJavaOptions": "-XX:+UseG1GC"})
    assert own.merged()["spark.driver.extraJavaOptions"] == "-XX:+UseG1GC"


def test_the_local_session_collects_with_it(spark_settings):
    """The option reaches the JVM the session starts (its collectors are Parallel's)."""
    jvm = spark_session(spark_settings).sparkContext._jvm
    beans = jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    names = {bean.getName() for bean in beans}
    assert names == {"PS Scavenge", "PS MarkSweep"}
