"""Arrival processes (statistically, with fixed seeds) and request workloads."""

import itertools
import json
import math
import statistics
from pathlib import Path

import pytest

from aiovertexchat.bench.arrivals import ArrivalProcess, arrival_offsets
from aiovertexchat.bench.workload import LengthSpec, Workload, load_prompts

N = 20_000


def gaps(process: ArrivalProcess, rate: float, seed: int = 7) -> list[float]:
    offsets = arrival_offsets(process, rate, count=N, seed=seed)
    assert offsets[0] == 0.0 and len(offsets) == N
    return [b - a for a, b in itertools.pairwise(offsets)]


def cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


# With 20,000 gaps the sample mean and CV have relative standard errors below ~1.5%, so the
# 4-5% bands below are several standard errors wide: the seeded draw passes with a wide margin
# and a wrong distribution (e.g. CV 0.5 instead of 1) fails by far.
def test_constant_arrivals_are_evenly_spaced() -> None:
    g = gaps(ArrivalProcess("constant"), 20.0)
    assert statistics.fmean(g) == pytest.approx(0.05)
    assert max(g) - min(g) < 1e-12


def test_poisson_arrivals_have_the_rate_and_cv_one() -> None:
    g = gaps(ArrivalProcess("poisson"), 8.0)
    assert statistics.fmean(g) == pytest.approx(1 / 8.0, rel=0.04)
    assert cv(g) == pytest.approx(1.0, rel=0.04)
    # Memoryless: about e^-1 of the gaps exceed the mean.
    above = sum(1 for x in g if x > 1 / 8.0) / len(g)
    assert above == pytest.approx(math.exp(-1), abs=0.02)


@pytest.mark.parametrize("shape", [0.5, 4.0])
def test_gamma_arrivals_have_the_rate_and_shape(shape: float) -> None:
    g = gaps(ArrivalProcess.parse(f"gamma:{shape}"), 5.0)
    mean, var = statistics.fmean(g), statistics.pvariance(g)
    assert mean == pytest.approx(0.2, rel=0.04)
    assert cv(g) == pytest.approx(1 / math.sqrt(shape), rel=0.05)
    assert mean * mean / var == pytest.approx(shape, rel=0.1)  # method-of-moments shape


def test_timelines_are_reproducible_and_bounded_by_duration() -> None:
    a = arrival_offsets(ArrivalProcess(), 10.0, count=50, seed=3)
    assert a == arrival_offsets(ArrivalProcess(), 10.0, count=50, seed=3)
    assert a != arrival_offsets(ArrivalProcess(), 10.0, count=50, seed=4)
    timed = arrival_offsets(ArrivalProcess("constant"), 10.0, duration=1.0)
    assert len(timed) == 10 and timed[-1] < 1.0
    both = arrival_offsets(ArrivalProcess("constant"), 10.0, count=3, duration=1.0)
    assert len(both) == 3


def test_arrival_parsing_errors_name_the_fix() -> None:
    assert str(ArrivalProcess.parse("Gamma:0.5")) == "gamma:0.5"
    for bad, words in [("uniform", "constant, poisson or gamma"), ("gamma", "shape"),
                       ("gamma:x", "not a number"), ("gamma:-1", "> 0"),
                       ("poisson:2", "no parameter")]:
        with pytest.raises(ValueError, match=words):
            ArrivalProcess.parse(bad)
    with pytest.raises(ValueError):
        arrival_offsets(ArrivalProcess(), 0.0, count=1)


def test_synthetic_prompts_are_deterministic_with_the_asked_length() -> None:
    w = Workload(prompt_tokens=LengthSpec(50), max_tokens=16, seed=1, run_id="r")
    a, b = w.request(3, "x"), w.request(3, "x")
    assert a == b
    assert a.prompt_words == 50 and a.max_tokens == 16
    assert a.messages[0]["content"] != w.request(4, "x").messages[0]["content"]
    spread = Workload(prompt_tokens=LengthSpec.parse("200:50"), seed=2)
    lengths = [spread.request(i).prompt_words for i in range(400)]
    assert statistics.fmean(lengths) == pytest.approx(200, rel=0.05)
    assert statistics.pstdev(lengths) == pytest.approx(50, rel=0.15)


def test_cache_bust_prefix_is_unique_and_first() -> None:
    w = Workload(prompt_tokens=LengthSpec(5), cache_bust=True, run_id="abcd")
    first, second = w.request(0, "c=1r1"), w.request(1, "c=1r1")
    assert first.messages[0]["content"].startswith("[bench abcd-c=1r1-0] ")
    assert second.messages[0]["content"].startswith("[bench abcd-c=1r1-1] ")
    # Same words after the prefix as without busting: only the prefix differs.
    plain = Workload(prompt_tokens=LengthSpec(5), run_id="abcd").request(0, "c=1r1")
    assert first.messages[0]["content"].endswith(plain.messages[0]["content"])


def test_prompt_file_entries_cycle_and_keep_their_limits(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    lines = [
        json.dumps("plain string prompt"),
        json.dumps({"prompt": "with a limit", "max_tokens": 7}),
        "",
        json.dumps({"messages": [{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
    ]
    path.write_text("\n".join(lines) + "\n")
    entries = load_prompts(path)
    w = Workload(prompts=entries, max_tokens=64, cache_bust=True, run_id="z")
    specs = [w.request(i) for i in range(4)]
    assert specs[0].max_tokens == 64 and specs[1].max_tokens == 7
    assert specs[3].messages[0]["content"] == specs[0].messages[0]["content"].replace("-0]", "-3]")
    bust_parts = specs[2].messages[0]["content"]
    assert bust_parts.startswith("[bench z--2] be brief")
    assert specs[2].messages[1]["content"] == [{"type": "text", "text": "hi"}]


@pytest.mark.parametrize(
    ("line", "words"),
    [("{not json", "not JSON"), ("42", "expected a JSON string or object"),
     ('{"prompt": "x", "model": "m"}', "unknown keys"), ('{"messages": []}', "non-empty"),
     ('{"prompt": "x", "max_tokens": 0}', "positive integer"), ("{}", "needs a string")],
)
def test_bad_prompt_files_name_file_and_line(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('"fine"\n' + line + "\n")
    with pytest.raises(ValueError, match=words) as info:
        load_prompts(path)
    assert f"{path}:2" in str(info.value)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no prompts"):
        load_prompts(tmp_path / "empty.jsonl")
