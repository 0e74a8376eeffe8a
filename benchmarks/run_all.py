"""`./dev bench`: every client-overhead benchmark in one run.

1. `client_overhead.py`: burst workload, CPU per chunk / per request against peers;
2. `before_after.py`: the same per-chunk CPU before (commit 8c57114) and after the layer move;
3. `streams_realistic.py`: 10,000 slow concurrent streams, CPU per chunk and peak RSS;
4. `bench_sse.py`: the SSE decoder alone.

`--quick` shrinks every workload (~2 min in all instead of ~6); `--strict` exits 1 when a target
is missed.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    flags = [flag for flag, on in (("--quick", args.quick), ("--strict", args.strict)) if on]

    sys.path.insert(0, str(HERE))
    import before_after
    import client_overhead
    import streams_realistic

    status = 0
    print("== Burst workload: client CPU against peers ==")
    status |= client_overhead.main(flags)
    print()
    status |= before_after.main(flags)
    print("\n== Realistic workload: many slow concurrent streams ==")
    status |= streams_realistic.main(flags)
    print("\n== SSE decoder ==")
    sys.argv = [str(HERE / "bench_sse.py")]
    runpy.run_path(str(HERE / "bench_sse.py"), run_name="__main__")
    sys.exit(status)
