"""`./dev bench`: the client-overhead comparison, then the SSE decoder micro-benchmark."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent

if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    from client_overhead import main

    status = main(sys.argv[1:])
    print("\n== SSE decoder ==")
    sys.argv = [str(HERE / "bench_sse.py")]
    runpy.run_path(str(HERE / "bench_sse.py"), run_name="__main__")
    sys.exit(status)
