"""The command-line skeleton: shared option groups, one duration parser, one emulator command
line, one percentile definition, and the traps of issue 15 (flags in messages, exit codes)."""

from __future__ import annotations

import argparse
import ast
import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiovertexchat
from aiovertexchat.batch.cli import resume_command
from aiovertexchat.batch.histogram import LatencyHistogram
from aiovertexchat.bench.cli import build_config
from aiovertexchat.bench.emulated import EmulatorSettings
from aiovertexchat.bench.slo import SLO
from aiovertexchat.cli.chat import _latency_line
from aiovertexchat.cli.commands import _parser, main
from aiovertexchat.cli.options import UsageError, api_keys_by_target, resolve
from aiovertexchat.cli.report import for_cli
from aiovertexchat.emulator import Emulator, EmulatorConfig, Fault
from aiovertexchat.emulator import cli as emulator_cli
from aiovertexchat.emulator.durations import UNITS, format_duration, parse_duration

PACKAGE = Path(aiovertexchat.__file__).parent
UNITS_NAMED = "units: us, ms, s, m, h"


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings if s not in ("-h", "--help")}


@pytest.fixture(autouse=True)
def no_ambient_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own Vertex / OpenAI settings must not leak into these tests."""
    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "OPENAI_BASE_URL",
                 "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


# -- durations ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("1.5m", 90.0), ("1h", 3600.0), ("90us", 9e-5),
     ("90\u00b5s", 9e-5), (".5s", 0.5), ("2 s", 2.0), (" 10ms ", 0.01), ("1e-3s", 1e-3),
     ("0s", 0.0), ("0.25h", 900.0)],
)
def test_durations_with_a_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text", ["2", "0", "1.5", " 30 "])
def test_a_duration_without_unit_is_refused_naming_the_units(text: str) -> None:
    with pytest.raises(ValueError, match="has no unit") as info:
        parse_duration(text)
    assert UNITS_NAMED in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "is not a duration"), ("fast", "is not a duration"), ("2d", "unknown unit 'd'"),
     ("1 min", "unknown unit 'min'"), ("-1s", "must be >= 0"), ("-0s", "must be >= 0"),
     ("1e400s", "too large"), ("1.2.3s", "is not a duration"), ("s", "is not a duration")],
)
def test_bad_durations_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_duration(text)


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_format_duration_reads_back_exactly(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(UNITS)))
def test_every_unit_scales_its_number(number: int, unit: str) -> None:
    assert parse_duration(f"{number}{unit}") == pytest.approx(number * UNITS[unit], rel=1e-12)


@given(st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{0,4})?\Z"))
def test_any_bare_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="has no unit"):
        parse_duration(text)


# Every duration flag of every command; the walk below must find exactly these.
DURATION_FLAGS = {
    ("chat", "--emulator-ttft"), ("chat", "--emulator-itl"),
    ("demo", "--emulator-ttft"), ("demo", "--emulator-itl"),
    ("bench", "--duration"), ("bench", "--timeout"),
    ("bench", "--emulator-ttft"), ("bench", "--emulator-itl"),
    ("bench", "--ramp-up"), ("bench", "--think-time"), ("bench", "--server-metrics-interval"),
    ("batch", "--timeout"), ("batch", "--grace"), ("batch", "--progress-interval"),
    ("batch", "--emulator-ttft"), ("batch", "--emulator-itl"),
    ("emulator", "--ttft"), ("emulator", "--itl"), ("emulator", "--token-lifetime"),
    ("emulator", "--emulator-ttft"), ("emulator", "--emulator-itl"),
    ("emulator", "--emulator-token-lifetime"),
}
DURATION_TYPES = (emulator_cli.duration, emulator_cli.positive_duration)


def test_every_duration_flag_uses_the_one_parser() -> None:
    found = {
        (name, flag)
        for name, sub in subparsers(_parser()).items()
        for action in sub._actions
        if action.type in DURATION_TYPES
        for flag in action.option_strings
    }
    assert found == DURATION_FLAGS
    # No other flag of any command looks like a duration but parses as a plain number.
    for name, sub in subparsers(_parser()).items():
        for action in sub._actions:
            if action.type is float:
                assert not any(w in (action.help or "") for w in ("second", "how long")), (
                    name, action.option_strings)


@pytest.mark.parametrize(("command", "flag"), sorted(DURATION_FLAGS))
def test_every_duration_flag_refuses_a_bare_number(
    command: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, flag, "2"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "'2' has no unit" in err and UNITS_NAMED in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["bench", "--slo", "ttft=2"], "has no unit"),
     (["bench", "--health", "loop_lag=1"], "has no unit")],
)
def test_durations_inside_specs_need_a_unit_too(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert words in capsys.readouterr().err
    assert SLO.parse("ttft=2s,itl=200ms").limits == {"ttft": 2.0, "itl": 0.2}


def test_duration_flags_parse_to_seconds() -> None:
    parse = _parser().parse_args
    batch = parse(["batch", "in.jsonl", "-o", "o.jsonl", "--timeout", "1.5m", "--grace", "5s",
                   "--progress-interval", "250ms"])
    assert (batch.timeout, batch.grace, batch.progress_interval) == (90.0, 5.0, 0.25)
    bench = parse(["bench", "--duration", "2m", "--timeout", "30s", "--emulator-ttft", "20ms"])
    assert (bench.duration, bench.timeout, bench.emulator_ttft) == (120.0, 30.0, 0.02)
    emulator = parse(["emulator", "--ttft", "1ms", "--token-lifetime", "1h"])
    assert (emulator.ttft, emulator.token_lifetime) == (0.001, 3600.0)


def test_resume_command_writes_durations_with_units_and_hides_the_key() -> None:
    args = _parser().parse_args([
        "batch", "in.jsonl", "-o", "o.jsonl", "--timeout", "1.5m", "--grace", "5s",
        "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sekrit-token",
    ])
    command = resume_command(args)
    assert "sekrit" not in command
    assert "--timeout 90.0s" in command and "--grace 5.0s" in command
    assert "--api-key KEY" in command
    again = _parser().parse_args(command.split()[1:])
    assert (again.timeout, again.grace, again.base_url) == (90.0, 5.0, "http://127.0.0.1:9/v1")


# -- one emulator command line ------------------------------------------------------------------
def test_both_emulator_command_lines_are_one_parser() -> None:
    standalone = emulator_cli.build_parser()
    embedded = subparsers(_parser())["emulator"]
    assert flags(standalone) == flags(embedded)
    assert {"--host", "--port", "--ttft", "--itl", "--tokens", "--seed", "--no-auth", "--fault",
            "--fault-rate", "--max-concurrency", "--max-rpm", "--token-lifetime",
            "--require-issued-tokens"} <= flags(standalone)


def test_emulator_flags_set_every_config_field() -> None:
    args = emulator_cli.build_parser().parse_args([
        "--ttft", "20ms", "--itl", "2ms", "--tokens", "5", "--seed", "3", "--no-auth",
        "--fault", "503", "--fault", "reset-mid-stream:after=2", "--fault-rate", "0.5",
        "--max-concurrency", "4", "--max-rpm", "60", "--token-lifetime", "1m",
        "--require-issued-tokens",
    ])
    config = emulator_cli.config_from_options(args, prefix="")
    assert (config.ttft, config.itl, config.completion_tokens, config.seed) == (0.02, 0.002, 5, 3)
    assert config.require_auth is False and config.require_issued_tokens is True
    assert config.faults == (Fault.parse("503"), Fault.parse("reset-mid-stream:after=2"))
    assert (config.fault_rate, config.max_concurrency, config.max_rpm) == (0.5, 4, 60)
    assert config.token_lifetime == 60.0
    defaults = emulator_cli.config_from_options(emulator_cli.build_parser().parse_args([]),
                                                prefix="")
    assert defaults == EmulatorConfig()


def test_the_standalone_emulator_takes_the_embedded_spelling_too() -> None:
    parse = emulator_cli.build_parser().parse_args
    assert parse(["--emulator-ttft", "5ms"]).ttft == 0.005
    assert parse(["--emulator-fault", "429"]).fault == [Fault.parse("429")]
    assert "--emulator-ttft" not in emulator_cli.build_parser().format_help()


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--fault-rate", "1.5"], "within [0, 1]"), (["--fault", "explode"], "unknown fault kind"),
     (["--max-concurrency", "-1"], "must be >= 0"), (["--token-lifetime", "0s"], "must be > 0")],
)
def test_emulator_flags_are_checked_when_parsed(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        emulator_cli.build_parser().parse_args(argv)
    assert info.value.code == 2
    assert words in capsys.readouterr().err


def test_bench_emulator_process_argv_is_read_back_by_the_one_parser() -> None:
    settings = EmulatorSettings(ttft=0.02, itl=1e-5, fault_rate=0.1, faults=("503", "429"),
                                max_concurrency=3, seed=7)
    args = emulator_cli.build_parser().parse_args(settings.argv())
    config = emulator_cli.config_from_options(args, prefix="")
    assert (config.ttft, config.itl, config.fault_rate, config.max_concurrency, config.seed) == (
        0.02, 1e-5, 0.1, 3, 7)
    assert [str(f) for f in config.faults] == ["503", "429"]


def test_python_m_emulator_prints_the_same_first_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiovertexchat.emulator", "--port", "0", "--ttft", "1ms"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("emulator listening; base URL: http://127.0.0.1:")
        assert line.rstrip().endswith("/v1")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_emulator_command_modules_import_nothing_outside_the_emulator() -> None:
    for name in ("cli.py", "durations.py", "__main__.py"):
        tree = ast.parse((PACKAGE / "emulator" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, (name, node.module)
                assert node.level == 1 or not (node.module or "").startswith("aiovertexchat")
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("aiovertexchat") for a in node.names), name


# -- shared option groups -----------------------------------------------------------------------
SHARED_TARGET = {"--base-url", "--project", "--location", "--endpoint", "--api-version",
                 "--emulator", "--api-key", "--api-key-env"}
EMBEDDED = {"--emulator-ttft", "--emulator-itl", "--emulator-fault", "--emulator-fault-rate",
            "--emulator-max-concurrency"}


def test_chat_bench_and_batch_share_target_credentials_and_emulator_groups() -> None:
    commands = subparsers(_parser())
    for name in ("chat", "bench", "batch"):
        assert flags(commands[name]) >= SHARED_TARGET | EMBEDDED, name
    assert flags(commands["demo"]) >= EMBEDDED
    assert not SHARED_TARGET & flags(commands["demo"])  # the demo always embeds an emulator


def args_for(*argv: str) -> argparse.Namespace:
    return _parser().parse_args(["chat", "hi", *argv])


def test_resolve_turns_flags_into_client_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "from-env")
    setup = resolve(args_for("--base-url", "http://h/v1", "--api-key-env", "MY_TOKEN"))
    assert setup.client_options == {"base_url": "http://h/v1", "api_key": "from-env"}
    assert setup.emulator is None
    assert "from-env" not in repr(setup)
    vertex = resolve(args_for("--project", "my-project", "--location", "global",
                              "--endpoint", "123", "--api-version", "v1beta1", "--api-key", "k"))
    assert vertex.client_options == {"project": "my-project", "location": "global",
                                     "endpoint": "123", "api_version": "v1beta1", "api_key": "k"}
    assert resolve(args_for()).client_options == {}  # the client's own resolution applies
    embedded = resolve(args_for("--emulator", "--emulator-ttft", "0s", "--emulator-fault", "503",
                                "--emulator-fault-rate", "0.25"))
    assert embedded.emulator is not None and embedded.client_options == {
        "api_key": "emulator", "trust_env": False}
    assert (embedded.emulator.ttft, embedded.emulator.itl) == (0.0, 0.01)  # chat's itl default
    assert embedded.emulator.faults == (Fault.parse("503"),)
    assert embedded.emulator.fault_rate == 0.25


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--emulator", "--project", "my-project"], "--emulator cannot be combined with --project"),
     (["--base-url", "http://h/v1", "--location", "l"],
      "--base-url cannot be combined with --location"),
     (["--api-key-env", "AIOVERTEXCHAT_TEST_UNSET"], "AIOVERTEXCHAT_TEST_UNSET is not set")],
)
def test_resolve_refuses_flags_that_cannot_work_together(argv: list[str], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        resolve(args_for(*argv))


def test_api_key_flags_by_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL", "all-token")
    monkeypatch.setenv("ONE", "one-token")
    args = _parser().parse_args(["bench", "--api-key-env", "a=ONE", "--api-key-env", "ALL"])
    # A named spec wins for its target whatever the order.
    assert api_keys_by_target(args, ["a", "b"]) == {"a": "one-token", "b": "all-token"}
    args = _parser().parse_args(["bench", "--api-key", "k"])
    assert api_keys_by_target(args, ["a", "b"]) == {"a": "k", "b": "k"}
    args = _parser().parse_args(["bench", "--api-key-env", "zz=ONE"])
    with pytest.raises(UsageError, match="names target 'zz'"):
        api_keys_by_target(args, ["a"])


def test_bench_vertex_flags_make_a_vertex_target() -> None:
    args = _parser().parse_args(["bench", "--project", "my-project", "--location", "us-central1",
                                 "--api-key", "k"])
    (target,) = build_config(args).targets
    assert (target.name, target.api_key) == ("vertex", "k")
    assert target.base_url == ("https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/"
                               "locations/us-central1/endpoints/openapi")


def test_bench_vertex_flags_errors_name_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--project", "my-project"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no Google Cloud location: give --location")
    assert "location=" not in err


# -- issue 15: the command line without traps ---------------------------------------------------
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"aiovertexchat {aiovertexchat.__version__}"


def run_beside(emulator_config: EmulatorConfig, argv: list[str]) -> int:
    async def run() -> int:
        async with Emulator(emulator_config) as emu:
            # main() runs its own event loop, so it goes to a thread beside the emulator's.
            return await asyncio.to_thread(
                main, [a.replace("{base_url}", emu.base_url) for a in argv])

    return asyncio.run(run())


def test_chat_sends_the_token_from_api_key_env(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TOKEN", "right-token")
    config = EmulatorConfig(accepted_tokens=frozenset({"right-token"}))
    assert run_beside(config, ["chat", "hi", "--base-url", "{base_url}", "--max-tokens", "3",
                               "--api-key-env", "CHAT_TOKEN"]) == 0
    assert len(capsys.readouterr().out.split()) == 3
    assert run_beside(config, ["chat", "hi", "--base-url", "{base_url}", "--max-tokens", "3",
                               "--api-key", "right-token", "--no-stream"]) == 0
    assert len(capsys.readouterr().out.split()) == 3


def test_chat_401_without_a_token_names_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_beside(EmulatorConfig(), ["chat", "hi", "--base-url", "{base_url}"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("error: request failed with HTTP 401")
    assert err[1].startswith("hint: no token was given on the command line")
    assert "--api-key-env VAR" in err[1]


def test_chat_401_with_a_wrong_token_gives_no_flag_hint(
    capsys: pytest.CaptureFixture[str]
) -> None:
    config = EmulatorConfig(accepted_tokens=frozenset({"right-token"}))
    assert run_beside(config, ["chat", "hi", "--base-url", "{base_url}", "--api-key",
                               "wrong-token"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 401" in err
    assert "wrong-token" not in err


def test_bare_model_on_a_managed_vertex_url_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://127.0.0.1:9/v1/projects/my-project/locations/us-central1/endpoints/openapi"
    for extra in ([], ["--no-stream"]):
        code = main(["chat", "hi", "--base-url", url, "--api-key", "t",
                     "--model", "gemini-2.5-flash", *extra])
        assert code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith("error: model 'gemini-2.5-flash' needs its publisher")
        assert "google/gemini-2.5-flash" in err


@pytest.mark.parametrize(
    ("argv", "words", "python_words"),
    [([], "give --project or set GOOGLE_CLOUD_PROJECT (or give --base-url", "project="),
     (["--project", "my-project"], "give --location or set GOOGLE_CLOUD_LOCATION", "location="),
     (["--project", "my-project", "--location", "us-central1", "--endpoint", "x"],
      "--endpoint must be 'openapi'", "endpoint must"),
     (["--project", "my-project", "--location", "us-central1", "--api-version", "v9"],
      "--api-version must be one of", "api_version"),
     (["--base-url", "ftp://x"], "--base-url must be an absolute http(s) URL", "base_url")],
)
def test_configuration_errors_name_flags_and_exit_2(
    argv: list[str], words: str, python_words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The library's own messages (from _http/endpoints.py), rewritten at the CLI boundary.
    assert main(["chat", "hi", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert words in err
    assert python_words not in err.replace("--" + python_words.replace("_", "-"), "")


def test_library_hints_are_rewritten_into_flags() -> None:
    from aiovertexchat._auth.google_blocking import MISSING_ADC_HINT

    text = for_cli(MISSING_ADC_HINT)
    assert "api_key=" not in text and "AsyncVertexChat" not in text
    assert "--api-key-env VAR (or --api-key KEY)" in text
    assert for_cli("a dedicated endpoint domain needs the numeric endpoint id: pass "
                   "endpoint='ID'").endswith("give --endpoint ID")


def test_the_credentials_error_prints_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No usable Application Default Credentials, found without any network call.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/aiovertexchat-key.json")
    code = main(["chat", "hi", "--project", "my-project", "--location", "us-central1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("no Google credentials found") == 1, err
    assert err.count("\n") == 1
    assert "--api-key-env VAR" in err and "api_key=" not in err


@pytest.mark.parametrize("where", [["."], ["in.jsonl", "-o", "."]])
def test_batch_refuses_a_directory(
    where: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["batch", *where] if "-o" in where else ["batch", *where, "-o", "out.jsonl"]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--emulator"])
    assert info.value.code == 2
    assert "'.' is a directory" in capsys.readouterr().err


# -- one percentile definition ------------------------------------------------------------------
def test_demo_uses_the_bench_percentiles() -> None:
    line = _latency_line("TTFT", [0.004, 0.001, 0.003, 0.002])
    # Type 7: p50 is midway between 2 and 3 ms (nearest-rank would say 2.0).
    assert "p50     2.5 ms" in line and "p90     3.7 ms" in line and "p99     4.0 ms" in line
    assert "mean     2.5 ms" in line
    assert _latency_line("TTFT", []).endswith("no values")


def test_batch_histogram_uses_the_bench_percentiles() -> None:
    hist = LatencyHistogram()
    for value in (0.001, 0.002, 0.003, 0.004):
        hist.add(value)
    p50 = hist.percentile(50)
    assert p50 is not None and 0.0025 <= p50 <= 0.0025 * 1.01


def test_no_other_percentile_definition_in_the_package() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.name == "sample_stats.py":
            continue
        text = path.read_text()
        assert "quantiles(" not in text, path
        assert not any(
            isinstance(node, ast.FunctionDef) and "percentile" in node.name
            and not (path.name == "histogram.py" and node.name == "percentile")
            for node in ast.walk(ast.parse(text))
        ), path
