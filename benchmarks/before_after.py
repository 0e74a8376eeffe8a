"""Per-chunk client CPU before and after the package move (issue 11), side by side, in one run.

"Before" is the code at commit 8c57114 (the last commit before the move), taken out of git with
`git archive` into a temporary directory; "after" is this working tree. Each measurement runs in
a fresh subprocess whose PYTHONPATH puts one of the two trees first (the child checks which
`aiovertexchat` it imported), and the two alternate so that machine noise hits both alike.

Workloads (the same code drives both trees; it uses only names both trees have):
- burst: the streaming workload of `client_overhead.py` (emulator subprocess, itl=0, 8 streams
  at a time, 200 chunks each), client CPU (`process_time`) per chunk, median of 3 after a
  warm-up;
- in-memory: `bench_stream.py`'s `ChatStream` over chunks held in memory (no sockets), best of 5.

Run: `python benchmarks/before_after.py [--quick] [--before REF]`. In a clone without that
commit (shallow, or a source archive) it says so and measures the working tree only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEFORE = "8c57114"
# After/before ratio above which the table reports a regression (runs differ by a few % anyway).
TOLERANCE = 1.05


def extract(ref: str, dest: Path) -> str | None:
    """Write the `aiovertexchat` package as of `ref` under `dest`; None, or why it could not."""
    try:
        repo = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--git-dir"],
                              capture_output=True, text=True)
        if repo.returncode != 0:
            return "this copy of the project is not a git clone"
        found = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True, text=True,
        )
    except FileNotFoundError:
        return "git is not installed"
    if found.returncode != 0:
        return (f"commit {ref} is not in this clone's history (a shallow clone or a source "
                "archive?); `git fetch --unshallow` makes it available")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref,
                              "aiovertexchat"], capture_output=True)
    if archive.returncode != 0:
        return f"git archive {ref} failed: {archive.stderr.decode(errors='replace').strip()}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Pythons without extraction filters
            tar.extractall(dest)  # our own repository's archive
    return None


# ---- child: one measurement with whichever aiovertexchat is first on the path -------------------
def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    import aiovertexchat

    origin = str(Path(aiovertexchat.__file__).resolve().parent.parent)
    result: dict[str, Any] = {"origin": origin}
    if args.child == "burst":
        from client_overhead import measure, ours_stream

        cpu, chunks = measure(ours_stream, args.base_url, args.requests, args.tokens, 8, 3)
        if chunks != args.requests * args.tokens:
            raise SystemExit(f"saw {chunks} chunks, expected {args.requests * args.tokens}")
        result["us_per_chunk"] = cpu / chunks * 1e6
    else:
        from bench_stream import best, make_reads

        reads = make_reads(args.chunks, tagged=False)
        result["us_per_chunk"] = best(reads, lambda: None, 5, args.chunks)
    print("RESULT " + json.dumps(result), flush=True)


def run_child(tree: Path, argv: list[str]) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv],
                          stdout=subprocess.PIPE, text=True, env=env, cwd=str(HERE))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"measurement with {tree} failed (exit {done.returncode})")
    result = json.loads(lines[-1][len("RESULT "):])
    if Path(result["origin"]).resolve() != tree.resolve():
        raise RuntimeError(f"the child imported aiovertexchat from {result['origin']}, "
                           f"not from {tree}")
    return float(result["us_per_chunk"])


# ---- parent ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--before", default=BEFORE, help=f"the 'before' ref (default {BEFORE})")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating before/after runs per workload (default 5)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a regression")
    parser.add_argument("--child", choices=["burst", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--chunks", type=int, default=20_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    requests = 50 if args.quick else 200
    rounds = min(3, args.rounds) if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="aiovertexchat-before-") as tmp:
        before_tree: Path | None = Path(tmp)
        why = extract(args.before, Path(tmp))
        print(f"== Before/after the move: client CPU per streamed chunk ==\nbefore: {args.before}"
              f" ({'git archive into a temporary directory' if why is None else 'unavailable'})"
              f"; after: the working tree ({ROOT})")
        if why is not None:
            print(f"NOTE: no 'before' figures: {why}. Measuring the working tree only.")
            before_tree = None
        trees = {"after": ROOT} if before_tree is None else {"before": before_tree,
                                                              "after": ROOT}
        sys.path.insert(0, str(HERE))
        from client_overhead import start_server

        server, base_url = start_server()
        workloads = {
            f"burst: emulator, {requests} streams x 200 chunks, 8 at a time":
                ["--child", "burst", "--base-url", base_url, "--requests", str(requests)],
            "in-memory ChatStream, plain text (bench_stream.py)":
                ["--child", "memory", "--chunks", "5000" if args.quick else "20000"],
        }
        figures: dict[str, dict[str, list[float]]] = {}
        try:
            for label, child_argv in workloads.items():
                figures[label] = {name: [] for name in trees}
                for _ in range(rounds):
                    for name, tree in trees.items():
                        figures[label][name].append(run_child(tree, child_argv))
        finally:
            server.terminate()
            server.wait(timeout=10)
            if server.stdout is not None:
                server.stdout.close()

    print(f"\n{'workload (µs CPU per chunk, median of ' + str(rounds) + ' runs)':<60}"
          f"{'before':>9}{'after':>9}{'after/before':>14}")
    regressions = []
    for label, runs in figures.items():
        after = statistics.median(runs["after"])
        if "before" not in runs:
            print(f"{label:<60}{'—':>9}{after:>9.2f}{'—':>14}")
            continue
        before = statistics.median(runs["before"])
        ratio = after / before
        print(f"{label:<60}{before:>9.2f}{after:>9.2f}{ratio:>13.2f}x")
        if ratio > TOLERANCE:
            regressions.append(label)
    if len(trees) == 2:
        print()
        ok = not regressions
        print(f"{'PASS' if ok else 'FAIL'}  the move costs no per-chunk CPU (after <= "
              f"{TOLERANCE:.2f}x before){'' if ok else ': ' + '; '.join(regressions)}")
        return 1 if args.strict and not ok else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
