"""File batch jobs in process: exactly-once under faults, bad input, resume, retry, stop."""

import asyncio
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from aiovertexchat import AsyncVertexChat
from aiovertexchat._protocol.pricing import PriceTable
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.batch import BadInputError, BatchJob, JobConfig, JobConfigError
from aiovertexchat.batch.cli import resume_command
from aiovertexchat.cli.commands import _parser, main
from aiovertexchat.emulator import Emulator, EmulatorConfig, Fault
from aiovertexchat.types import Usage
from tests.helpers import MODEL, batch_line


def write_input(path: Path, count: int, start: int = 0) -> list[str]:
    ids = [f"req-{i}" for i in range(start, start + count)]
    path.write_text("".join(batch_line(i, f"prompt {i}") + "\n" for i in ids))
    return ids


def ids_in(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines()]


def assert_exactly_once(ids: Iterable[str], output: Path, errors: Path) -> Counter[str]:
    seen = Counter(ids_in(output) + ids_in(errors))
    assert {k: v for k, v in seen.items() if v != 1} == {}
    assert set(seen) == set(ids)
    return seen


FAULTS = tuple(Fault.parse(s) for s in ("429", "500", "reset-before-headers", "503"))


async def test_ten_thousand_items_with_faults_each_recorded_once(tmp_path: Path) -> None:
    ids = write_input(tmp_path / "in.jsonl", 10_000)
    config = EmulatorConfig(faults=FAULTS, fault_rate=0.1, seed=7)
    # Two attempts with a short backoff: ~1% of items fail twice and land in the errors file.
    policy = RetryPolicy(max_attempts=2, base=0.001, cap=0.01, budget_ratio=None)
    async with Emulator(config) as emu, AsyncVertexChat(
        base_url=emu.base_url, api_key="k", retry=policy
    ) as client:
        job = BatchJob(
            client,
            JobConfig(tmp_path / "in.jsonl", tmp_path / "out.jsonl", concurrency=64),
            prices=PriceTable.default(),
        )
        outcome = await job.run()
    output, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    assert_exactly_once(ids, output, errors)
    summary = outcome.summary
    assert outcome.state == "completed" and outcome.remaining == 0
    assert summary.succeeded == len(ids_in(output)) and summary.failed == len(ids_in(errors))
    assert summary.succeeded + summary.failed == 10_000
    # Every injected fault is one failed attempt: either retried, or an item's last attempt.
    faults = sum(emu.stats.faults.values())
    assert summary.failed > 0 and summary.retries > 500
    assert faults == summary.retries + summary.failed
    assert summary.rate_limited == emu.stats.faults["429"]
    # "prompt N [[tokens=2]]" is 3 words: the emulator's usage is exact.
    assert summary.prompt_tokens == 3 * summary.succeeded
    assert summary.completion_tokens == 2 * summary.succeeded
    unit = PriceTable.default().cost(MODEL, Usage(prompt_tokens=3, completion_tokens=2))
    assert summary.cost.total_usd == pytest.approx(unit.total_usd * summary.succeeded)
    assert summary.latency.count == 10_000
    for line in errors.read_text().splitlines():
        record = json.loads(line)
        assert record["error"]["code"] in {"RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE",
                                           "connection_error"}


def run_cli(*args: str) -> int:
    return main(["batch", *args])


def test_bad_input_is_reported_by_line_and_nothing_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        batch_line("a", "ok"),
        '{"custom_id": "b", "method": "POST",',
        json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}),
        "",
        batch_line("a", "again"),
        json.dumps({"custom_id": "c", "method": "GET", "url": "/v1/chat/completions",
                    "body": {"messages": [{"role": "user", "content": "x"}]}}),
        json.dumps({"custom_id": "d", "method": "POST", "url": "/v1/embeddings",
                    "body": {"messages": [{"role": "user", "content": "x"}]}}),
        batch_line("e", "fine"),
        batch_line("c", "dup of a bad line"),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert run_cli(str(source), "-o", str(out), "--emulator") == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{source}: 6 bad input lines; nothing was sent. Fix them and run the same command again:",
        "  line 2: malformed JSON: Input data was truncated",
        "  line 3: missing custom_id: every line needs a unique string custom_id",
        "  line 5: duplicate custom_id 'a' (first on line 1)",
        "  line 6: method is 'GET'; only 'POST' is supported",
        "  line 7: url is '/v1/embeddings'; only '/v1/chat/completions' is supported",
        "  line 9: duplicate custom_id 'c' (first on line 6)",
    ]
    assert not out.exists() and not (tmp_path / "out.errors.jsonl").exists()


def test_long_problem_lists_are_cut(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("not json\n" * 120)

    async def run() -> BadInputError:
        client = AsyncVertexChat(base_url="http://127.0.0.1:9/v1")
        job = BatchJob(client, JobConfig(source, tmp_path / "o.jsonl", max_reported_problems=3))
        with pytest.raises(BadInputError) as info:
            await job.run()
        await client.aclose()
        return info.value

    error = asyncio.run(run())
    assert error.count == 120 and [p.line for p in error.problems] == [1, 2, 3]
    assert error.report().endswith("  ... and 117 more")


def test_resume_skips_recorded_and_retry_failed_reruns_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    errors = tmp_path / "failed.jsonl"
    ids = write_input(source, 300)
    common = [str(source), "-o", str(out), "--errors", str(errors), "--emulator", "-q",
              "--concurrency", "16"]
    # First run, no retries: a third fail. Exit 3: finished, with failures.
    assert run_cli(*common, "--emulator-fault", "500", "--emulator-fault-rate", "0.3",
                   "--max-attempts", "1") == 3
    failed = set(ids_in(errors))
    assert 40 < len(failed) < 160
    assert_exactly_once(ids, out, errors)
    # Same command, no faults: nothing to do (failures are not retried without the flag).
    summary_path = tmp_path / "s.json"
    assert run_cli(*common, "--summary-json", str(summary_path)) == 3
    summary = json.loads(summary_path.read_text())
    assert summary["items"] == {
        "total": 300, "succeeded": 0, "failed": 0, "skipped": 300,
        "skipped_succeeded": 300 - len(failed), "skipped_failed": len(failed), "remaining": 0,
    }
    # --retry-failed: the failed ones run again, leave the errors file, and land in the output.
    assert run_cli(*common, "--retry-failed", "--summary-json", str(summary_path)) == 0
    assert ids_in(errors) == []
    assert_exactly_once(ids, out, errors)
    summary = json.loads(summary_path.read_text())
    assert summary["items"]["succeeded"] == len(failed)
    assert summary["items"]["skipped_succeeded"] == 300 - len(failed)
    assert summary["state"] == "completed" and "resume_command" not in summary
    capsys.readouterr()


def test_retry_failed_that_fail_again_stay_once_in_errors(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 40)
    errors = tmp_path / "out.errors.jsonl"
    common = [str(source), "-o", str(out), "--emulator", "-q", "--max-attempts", "1"]
    assert run_cli(*common, "--emulator-fault", "429", "--emulator-fault-rate", "1") == 3
    assert sorted(ids_in(errors)) == sorted(ids)
    for _ in range(2):
        assert run_cli(*common, "--retry-failed", "--emulator-fault", "500",
                       "--emulator-fault-rate", "1") == 3
        assert_exactly_once(ids, out, errors)
        assert ids_in(out) == []
    codes = {json.loads(line)["error"]["code"] for line in errors.read_text().splitlines()}
    assert codes == {"INTERNAL"}  # the old 429 records were replaced, not kept beside


def test_torn_last_line_is_repaired_and_its_item_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 50)
    assert run_cli(str(source), "-o", str(out), "--emulator", "-q") == 0
    lines = out.read_bytes().splitlines(keepends=True)
    victim = json.loads(lines[-1])["custom_id"]
    # What a kill -9 in the middle of a write leaves: the last record cut short.
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])
    assert run_cli(str(source), "-o", str(out), "--emulator", "--progress", "plain") == 0
    captured = capsys.readouterr()
    assert f"repaired {out}: removed a torn last line (40 bytes)" in captured.err
    assert "1 succeeded, 0 failed, 49 skipped of 50" in captured.out
    assert ids_in(out)[-1] == victim
    assert_exactly_once(ids, out, tmp_path / "out.errors.jsonl")


def test_foreign_records_are_noted_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 5)
    other = tmp_path / "other.jsonl"
    write_input(other, 3, start=100)
    assert run_cli(str(other), "-o", str(out), "--emulator", "-q") == 0
    assert run_cli(str(source), "-o", str(out), "--emulator", "--progress", "plain") == 0
    assert "3 records in the output/errors files have custom_ids that are not in this input" in (
        capsys.readouterr().err
    )
    assert len(ids_in(out)) == 8


def test_corrupt_output_and_same_file_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 3)
    out.write_text('{"custom_id": "req-0"}\nhello\n{"custom_id": "req-1"}\n')
    assert run_cli(str(source), "-o", str(out), "--emulator") == 1
    assert f"error: {out}:2: not a batch record" in capsys.readouterr().err
    assert run_cli(str(source), "-o", str(source), "--emulator") == 1
    assert "output and input are the same file" in capsys.readouterr().err
    assert run_cli(str(tmp_path / "nope.jsonl"), "-o", str(out), "--emulator") == 1
    assert "does not exist" in capsys.readouterr().err


def test_resume_command_repeats_flags_but_not_retry_failed() -> None:
    args = _parser().parse_args([
        "batch", "in put.jsonl", "-o", "o.jsonl", "--concurrency", "8", "--retry-failed",
        "--emulator", "--emulator-fault", "429", "--emulator-fault", "500", "-q",
    ])
    assert resume_command(args) == (
        "aiovertexchat batch 'in put.jsonl' --output o.jsonl --concurrency 8 --quiet "
        "--emulator --emulator-fault 429 --emulator-fault 500"
    )


# -- stopping, with a client whose requests the test releases -----------------------------
class GatedCompletions:
    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()
        self.in_flight_reached = asyncio.Event()
        self.cancelled = 0
        self.target = 1

    async def create(self, **kwargs: Any) -> Any:
        from aiovertexchat.types import ChatCompletion, Usage

        self.started += 1
        if self.started >= self.target:
            self.in_flight_reached.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return ChatCompletion(id="x", model=kwargs["model"] or "m",
                              usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2))


class GatedClient:
    def __init__(self) -> None:
        self.completions = GatedCompletions()
        self.chat = self


def gated_job(tmp_path: Path, count: int, grace: float) -> tuple[BatchJob, GatedCompletions]:
    write_input(tmp_path / "in.jsonl", count)
    fake = GatedClient()
    fake.completions.target = 4
    job = BatchJob(fake, JobConfig(  # type: ignore[arg-type]
        tmp_path / "in.jsonl", tmp_path / "out.jsonl", concurrency=4, grace=grace,
    ), counters=lambda: (0, 0))
    return job, fake.completions


async def test_stop_waits_for_in_flight_then_reports_interrupted(tmp_path: Path) -> None:
    job, fake = gated_job(tmp_path, 100, grace=3600)
    task = asyncio.ensure_future(job.run())
    await fake.in_flight_reached.wait()
    job.request_stop(15)
    fake.release.set()
    outcome = await task
    assert outcome.state == "interrupted" and outcome.signal == 15
    assert outcome.summary.succeeded == 4 and outcome.remaining == 96
    assert fake.started == 4 and fake.cancelled == 0
    assert len(ids_in(tmp_path / "out.jsonl")) == 4


async def test_second_stop_cancels_in_flight_at_once(tmp_path: Path) -> None:
    job, fake = gated_job(tmp_path, 100, grace=3600)
    task = asyncio.ensure_future(job.run())
    await fake.in_flight_reached.wait()
    job.request_stop(2)
    job.request_stop(2)
    outcome = await task
    assert fake.cancelled == 4 and outcome.summary.done == 0 and outcome.remaining == 100
    assert ids_in(tmp_path / "out.jsonl") == []


async def test_grace_period_expiry_cancels_in_flight(tmp_path: Path) -> None:
    job, fake = gated_job(tmp_path, 10, grace=0)
    task = asyncio.ensure_future(job.run())
    await fake.in_flight_reached.wait()
    job.request_stop(15)
    outcome = await task
    assert fake.cancelled == 4 and outcome.state == "interrupted" and outcome.remaining == 10


async def test_stop_before_start_sends_nothing(tmp_path: Path) -> None:
    job, fake = gated_job(tmp_path, 10, grace=0)
    job.request_stop(2)
    outcome = await job.run()
    assert fake.started == 0 and outcome.state == "interrupted" and outcome.remaining == 10


async def test_stop_while_checking_a_long_input_sends_nothing(tmp_path: Path) -> None:
    from aiovertexchat.batch import JobStoppedError

    job, fake = gated_job(tmp_path, 5000, grace=0)
    job.request_stop(2)
    with pytest.raises(JobStoppedError, match="nothing was sent"):
        await job.run()
    assert fake.started == 0 and not (tmp_path / "out.jsonl").exists()


def test_job_config_checks() -> None:
    with pytest.raises(JobConfigError, match="concurrency"):
        BatchJob(GatedClient(), JobConfig(Path("a"), Path("b"), concurrency=0))  # type: ignore[arg-type]


def test_cli_retries_429s_and_runs_under_rpm_and_tpm(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 60)
    summary_path = tmp_path / "s.json"
    code = run_cli(
        str(source), "-o", str(out), "--emulator", "-q", "--concurrency", "16",
        "--emulator-fault", "429", "--emulator-fault-rate", "0.2",
        "--rpm", "600000", "--tpm", "100000000", "--summary-json", str(summary_path),
    )
    # With 8 attempts at a 20% fault rate every item gets through; the 429s were retried.
    assert code == 0
    assert sorted(ids_in(out)) == sorted(ids)
    errors = tmp_path / "out.errors.jsonl"
    assert not errors.exists() or ids_in(errors) == []
    summary = json.loads(summary_path.read_text())
    assert summary["items"]["succeeded"] == 60 and summary["items"]["failed"] == 0
    assert summary["retries"] == summary["rate_limited"] > 0


def test_cli_max_attempts_one_sends_each_item_once(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 30)
    summary_path = tmp_path / "s.json"
    code = run_cli(
        str(source), "-o", str(out), "--emulator", "-q", "--max-attempts", "1",
        "--emulator-fault", "503", "--emulator-fault-rate", "1", "--summary-json",
        str(summary_path),
    )
    assert code == 3
    assert sorted(ids_in(tmp_path / "out.errors.jsonl")) == sorted(ids)
    summary = json.loads(summary_path.read_text())
    assert summary["retries"] == 0 and summary["items"]["failed"] == 30
