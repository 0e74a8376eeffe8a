"""`--tokenizer`: prompts sized in real tokens and output counted client-side, with a small
BPE tokenizer trained here (nothing is downloaded)."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import pytest
from aiohttp import web

from aiovertexchat.bench import BenchConfig, LengthSpec, Load, Target, Workload, run_bench
from aiovertexchat.bench.tokens import TokenCounter
from aiovertexchat.bench.workload import _WORDS
from tests.bench.test_run import LENIENT
from tests.helpers import serve_app

pytest.importorskip("tokenizers")

SENTENCES = [
    "the river runs past the market and the old bridge to the valley",
    "a teacher and a student read a book about the history of the mountain",
    "people in the city work in the office every morning and every night",
    " ".join(_WORDS),
]


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    # A small vocabulary: long words split into several tokens, so tokens are not words.
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"])
    tokenizer.train_from_iterator(SENTENCES, trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def test_synthetic_prompts_have_exactly_the_asked_tokens(tokenizer_file: Path) -> None:
    counter = TokenCounter(tokenizer_file)
    text = " ".join(_WORDS[:40])
    assert counter.count(text) > 40  # the small vocabulary splits words
    for n in (1, 7, 64, 300):
        sized = counter.sized_text(n, random.Random(n), _WORDS)
        assert counter.count(sized) == n
    workload = Workload(prompt_tokens=LengthSpec(50, 10), tokenizer=counter, seed=1)
    for i in range(5):
        spec = workload.request(i, "s")
        assert spec.prompt_tokens == counter.count(spec.messages[0]["content"])
        assert spec.prompt_words < spec.prompt_tokens  # words are fewer than tokens here
    fixed = Workload(prompt_tokens=LengthSpec(33), tokenizer=counter)
    assert {fixed.request(i).prompt_tokens for i in range(5)} == {33}


def test_the_counter_pickles_as_its_path(tokenizer_file: Path) -> None:
    counter = TokenCounter(tokenizer_file)
    copy = pickle.loads(pickle.dumps(counter))
    assert copy.path == str(tokenizer_file) and copy._tokenizer is None
    assert copy.count("the river market") == counter.count("the river market")
    assert len(pickle.dumps(counter)) < 500
    with pytest.raises(ValueError, match="does not exist"):
        TokenCounter(tokenizer_file.parent / "missing.json")
    bad = tokenizer_file.parent / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"not a tokenizer\.json"):
        TokenCounter(bad)


ANSWER = ["The river", " runs past", " the market", " and the old bridge"]


async def _no_usage(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    deltas = [{"role": "assistant"}] + [{"content": piece} for piece in ANSWER]
    for delta in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
    await response.write_eof()
    return response


async def test_tokens_are_counted_client_side_when_no_usage_comes(tokenizer_file: Path) -> None:
    counter = TokenCounter(tokenizer_file)
    expected = counter.count("".join(ANSWER))
    assert expected != len(ANSWER) and expected != len("".join(ANSWER).split())
    async with serve_app(_no_usage) as url:
        result = await run_bench(BenchConfig(
            targets=[Target("t", url + "/v1", model="m", api_key="k")],
            loads=[Load.concurrency(2)], requests=4, thresholds=LENIENT, prices=None,
            workload=Workload(prompt_tokens=LengthSpec(5), tokenizer=counter),
            token_counter=counter,
        ))
    summary = result.points[0].summary
    assert summary.usage_missing == 4
    assert [r.output_tokens for r in result.points[0].repeats[0].records] == [expected] * 4
    assert summary.output_tokens == 4 * expected


def test_cli_tokenizer_flags(tokenizer_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aiovertexchat.bench.cli import build_config
    from aiovertexchat.cli.commands import _parser, main

    config = build_config(_parser().parse_args(
        ["bench", "--tokenizer", str(tokenizer_file), "--prompt-tokens", "20"]))
    assert isinstance(config.token_counter, TokenCounter)
    assert config.workload.request(0).prompt_tokens == 20
    words = build_config(_parser().parse_args(
        ["bench", "--tokenizer", str(tokenizer_file), "--count-tokens", "words"]))
    assert words.token_counter is not None and words.token_counter("a b") == 2
    assert main(["bench", "--tokenizer", str(tokenizer_file.parent / "nope.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["bench", "--count-tokens", "tokenizer"]) == 2
    assert "needs --tokenizer" in capsys.readouterr().err
