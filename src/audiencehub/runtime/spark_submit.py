"""The file to hand ``spark-submit``: an audiencehub command run as a Spark application.

    spark-submit --master spark://HOST:7077 --conf spark.executor.memory=8g \\
        "$(python -c 'import audiencehub.runtime.spark_submit as m; print(m.__file__)')" \\
        jobs run importSharedAudience --workspace /srv/audiencehub

The arguments after the file are those of the ``audiencehub`` command. The
workspace runs its batch jobs on Spark whatever its settings say, in the
session ``spark-submit`` configured (its master and ``--conf`` settings win
over the workspace's ``spark_master``); the executors need Python with
audiencehub installed (``PYSPARK_PYTHON``).
"""

from __future__ import annotations

import os
import sys

from audiencehub.cli import main as cli_main


def main() -> None:
    """Run the ``audiencehub`` command given after this file, on Spark."""
    os.environ["AUDIENCEHUB_BULK_ENGINE"] = "spark"
    sys.argv = ["audiencehub", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
