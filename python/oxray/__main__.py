"""``python -m oxray collect | show | map``: the ``oxray`` command line.

It runs in the native module: the same function as the ``oxray`` binary and ``npx oxray``
(``oxray_cli::main_with_args``), so the three behave identically.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from ._core import cli_main

    # An argument that is not valid UTF-8 (surrogate-escaped by Python) reaches the command
    # as U+FFFD, which then gets the command's own clear error, never a traceback.
    args = [os.fsencode(a).decode("utf-8", "replace") for a in sys.argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
