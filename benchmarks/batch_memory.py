"""Peak memory of `aiovertexchat batch` against input size: it should stay flat.

    python benchmarks/batch_memory.py [--sizes 10000,100000,1000000] [--concurrency 64]

For each size: write an input of tiny prompts (one-token answers), start the emulator in its
own process, run the batch CLI in another (`python -m aiovertexchat batch ... --quiet`), and
read that process's peak RSS from `os.wait4`. Prints one row per size. Not a test: timings
depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def write_input(path: Path, count: int) -> int:
    with path.open("w") as f:
        for i in range(count):
            body = {"model": "google/gemini-2.5-flash",
                    "messages": [{"role": "user", "content": f"q{i} [[tokens=1]]"}]}
            f.write(json.dumps({"custom_id": f"request-{i:08d}", "method": "POST",
                                "url": "/v1/chat/completions", "body": body}) + "\n")
    return path.stat().st_size


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiovertexchat.emulator", "--port", "0", "--no-auth"],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    found = re.search(r"(http://\S+/v1)\b", proc.stdout.readline().decode())
    if found is None:
        proc.kill()
        raise SystemExit("the emulator did not start")
    return proc, found.group(1)


def run_one(count: int, concurrency: int, workdir: Path) -> dict[str, float]:
    source, out = workdir / f"in-{count}.jsonl", workdir / f"out-{count}.jsonl"
    size = write_input(source, count)
    emulator, url = start_emulator()
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiovertexchat", "batch", str(source), "-o", str(out),
             "--base-url", url, "--concurrency", str(concurrency), "--quiet",
             "--summary-json", str(workdir / "summary.json")],
            cwd=ROOT, env=ENV,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
    finally:
        emulator.kill()
        emulator.wait()
        if emulator.stdout is not None:
            emulator.stdout.close()
    if proc.returncode != 0:
        raise SystemExit(f"batch of {count} exited {proc.returncode}")
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["items"]["succeeded"] == count, summary["items"]
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    for path in (source, out):
        path.unlink()
    return {"lines": count, "input_mb": size / 2**20, "elapsed_s": elapsed,
            "items_per_s": count / elapsed, "peak_rss_mb": rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'lines':>10} {'input MB':>9} {'elapsed s':>10} {'items/s':>8} {'peak RSS MB':>12}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in sizes:
            row = run_one(count, args.concurrency, Path(tmp))
            rows.append(row)
            print(f"{row['lines']:>10,} {row['input_mb']:>9.1f} {row['elapsed_s']:>10.1f} "
                  f"{row['items_per_s']:>8,.0f} {row['peak_rss_mb']:>12.1f}", flush=True)
    if len(rows) > 1:
        growth = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
        print(f"peak RSS x{growth:.2f} for x{rows[-1]['lines'] / rows[0]['lines']:,.0f} lines")


if __name__ == "__main__":
    main()
