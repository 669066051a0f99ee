"""Instructions the server middleware adds to a request, counted by callgrind on the main
thread (what machine load does not disturb): the same child as ``middleware.py`` runs n1 and
n2 requests, traced and untraced, with the hash seed and address randomisation fixed; the
figure is the difference of the two differences, per request.

    python instructions.py [--n1 200] [--n2 1200] [--case LABEL ...] [--header sampled|unsampled|rules ...]

Needs valgrind and setarch; oxray must be importable by this interpreter (PYTHONPATH may
point at an unpacked wheel). Documents go to a closed local UDP port (the sender thread is
not counted).
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import textwrap
from typing import Dict, List

from middleware import APPS, HEADERS, REQUEST_SETUP, RULES

CHILD = (
    REQUEST_SETUP
    + """
app = (XRayWSGIMiddleware if {kind!r} == "wsgi" else XRayASGIMiddleware)(plain) if {traced!r} else plain
for _ in range(300):  # warm-up: caches, the sampler, recycled records
    request(app)
for _ in range(int(sys.argv[1])):
    request(app)
"""
)


def main_thread_instructions(code: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, PYTHONHASHSEED="0", AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:9")
        command = ["setarch", "-R", "valgrind", "--tool=callgrind", "--separate-threads=yes"]
        command += [f"--callgrind-out-file={out}/cg.out", sys.executable, "-c", code, str(n)]
        subprocess.run(command, check=True, capture_output=True, env=env)
        first = sorted(glob.glob(f"{out}/cg.out-*"))[0]  # thread 1: the main thread
        with open(first) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
    raise RuntimeError("no summary in the callgrind output")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n1", type=int, default=200)
    parser.add_argument("--n2", type=int, default=1200)
    parser.add_argument("--case", action="append", help="a label prefix from middleware.APPS (default: all)")
    parser.add_argument("--header", action="append", choices=list(HEADERS), help="default: sampled, unsampled")
    parser.add_argument("--traced-only", action="store_true", help="print traced instructions per request only")
    args = parser.parse_args()
    modes: List[str] = args.header or ["sampled", "unsampled"]
    for label, kind, app, _ in APPS:
        if args.case and not any(label.startswith(c) for c in args.case):
            continue
        for mode in modes:
            per: Dict[bool, float] = {}
            for traced in [True] if args.traced_only else [False, True]:
                code = CHILD.format(
                    rules=RULES, header=HEADERS[mode], app=textwrap.dedent(app), kind=kind, traced=traced
                )
                counts = [main_thread_instructions(code, n) for n in (args.n1, args.n2)]
                per[traced] = (counts[1] - counts[0]) / (args.n2 - args.n1)
            if args.traced_only:
                print(f"{label:32} {mode:10} traced {per[True]:9.0f} instructions/request", flush=True)
            else:
                added = per[True] - per[False]
                print(f"{label:32} {mode:10} untraced {per[False]:9.0f}  added {added:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
