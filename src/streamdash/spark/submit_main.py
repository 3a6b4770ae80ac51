"""What spark-submit runs on the driver: `streamdash spark run` with the same arguments
(spark-submit needs a Python file, not a console script). See `submit.py`."""

from __future__ import annotations

import sys


def main() -> None:
    from streamdash.cli import main as cli_main

    sys.argv = [sys.argv[0], "spark", "run", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
