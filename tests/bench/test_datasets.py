"""Datasets: ShareGPT JSON, JSONL of prompts or messages, CSV with a prompt column; every bad
line reported by number; answer lengths as max_tokens; sampling with a seed; length filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiovertexchat.bench.datasets import (
    DatasetError,
    LengthRange,
    load_dataset,
    prompt_text,
    select,
)
from aiovertexchat.bench.workload import Workload

SHAREGPT = [
    {"id": "a", "conversations": [
        {"from": "system", "value": "be terse"},
        {"from": "human", "value": "what is a river"},
        {"from": "gpt", "value": "water that flows"},
        {"from": "human", "value": "and a lake"},
        {"from": "gpt", "value": "water that stays put mostly"}]},
    {"id": "b", "conversations": [
        {"from": "human", "value": "one two three four five six"},
        {"from": "gpt", "value": "seven"}]},
]


def test_sharegpt_conversations_become_prompts_answers_and_turns(tmp_path: Path) -> None:
    path = tmp_path / "sg.json"
    path.write_text(json.dumps(SHAREGPT, indent=1))
    first, second = load_dataset(path)
    assert first.messages == ({"role": "system", "content": "be terse"},
                              {"role": "user", "content": "what is a river"})
    assert first.answer_tokens == 3 and second.answer_tokens == 1  # words, no tokenizer
    assert [tuple(t) for t in first.followups] == [("and a lake", 5)]
    w = Workload(prompts=[first, second], max_tokens_from_dataset=True, max_tokens=None)
    assert [w.request(i).max_tokens for i in range(2)] == [3, 1]
    sessions = Workload(prompts=[first, second], turns="dataset")
    assert sessions.request(0).followups == (("and a lake", 128),)
    assert sessions.request(1).turns == 1 and sessions.max_turns == 2


def test_sharegpt_problems_name_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n'
                    '  {"conversations": [{"from": "human", "value": "fine"}]},\n'
                    '  {"conversations": []},\n'
                    '  {"no": "conversations"},\n'
                    '  {"conversations": [{"from": "robot", "value": "x"}]}\n'
                    ']\n')
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert [line for line, _ in info.value.problems] == [3, 4, 5]
    text = str(info.value)
    assert "3 bad line(s); nothing was sent" in text
    assert f"{path}:3: conversations must be a non-empty list" in text
    assert f"{path}:5: turn 1 is from 'robot'" in text
    truncated = tmp_path / "cut.json"
    truncated.write_text('[\n {"conversations": [{"from": "human", "value": "x"}]},\n {"conv')
    with pytest.raises(DatasetError, match=r"cut.json:3: not JSON"):
        load_dataset(truncated)


def test_jsonl_reports_every_bad_line_at_once(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    lines = [
        json.dumps("plain prompt"),
        "{broken",
        json.dumps({"messages": [{"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "hello back there"}]}),
        "",
        json.dumps({"prompt": "x", "max_tokens": -1}),
        json.dumps({"prompt": "with answer", "completion": "a b c d"}),
        json.dumps({"conversations": [{"from": "human", "value": "sharegpt line"}]}),
        json.dumps({"prompt": "x", "temperature": 1}),
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert [(line, text.split(" ")[0]) for line, text in info.value.problems] == [
        (2, "not"), (5, "max_tokens"), (8, "unknown")]
    del lines[7], lines[4], lines[1]
    path.write_text("\n".join(lines) + "\n")
    entries = load_dataset(path)
    assert len(entries) == 4
    # A final assistant message is the answer, not the prompt.
    assert entries[1].messages == ({"role": "user", "content": "hi"},)
    assert entries[1].answer_tokens == 3 and entries[2].answer_tokens == 4
    with pytest.raises(DatasetError, match=r"p.jsonl:1: no answer"):
        load_dataset(path, need_answers=True)


def test_csv_with_a_prompt_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,question,response,max_tokens\n'
                    '1,"what, exactly, is a delta",a river mouth,\n'
                    '2,"two\nlines",ok fine,7\n'
                    '3,,empty,\n'
                    '4,too,many,fields,here\n'
                    '5,short\n'
                    '6,fine,x,zero\n')
    with pytest.raises(DatasetError) as info:
        load_dataset(path, prompt_column="question")
    assert [line for line, _ in info.value.problems] == [5, 6, 7, 8]
    assert "empty 'question'" in info.value.problems[0][1]
    path.write_text('id,question,response,max_tokens\n'
                    '1,"what, exactly, is a delta",a river mouth,\n'
                    '2,"two\nlines",ok fine,7\n')
    first, second = load_dataset(path, prompt_column="question")
    assert first.messages[0]["content"] == "what, exactly, is a delta"
    assert (first.answer_tokens, first.max_tokens) == (3, None)
    assert (second.answer_tokens, second.max_tokens) == (2, 7)
    with pytest.raises(DatasetError, match="no 'prompt' column"):
        load_dataset(path)


def test_sampling_is_seeded_and_filtering_uses_the_counter(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(" ".join(["w"] * n)) + "\n" for n in range(1, 41)))
    entries = load_dataset(path)
    kept = select(entries, prompt_length=LengthRange.parse("10:19"))
    assert [len(prompt_text(e).split()) for e in kept] == list(range(10, 20))
    a = select(entries, sample=5, seed=7)
    assert a == select(entries, sample=5, seed=7) and a != select(entries, sample=5, seed=8)
    assert len({prompt_text(e) for e in a}) == 5
    doubled = select(entries, prompt_length=LengthRange(None, 10), counter=lambda t: 2 * len(
        t.split()))
    assert len(doubled) == 5  # 1..5 words are 2..10 "tokens"
    with pytest.raises(ValueError, match="more than the 40"):
        select(entries, sample=41)
    with pytest.raises(ValueError, match="no prompt is within"):
        select(entries, prompt_length=LengthRange(100, None))
    with pytest.raises(ValueError, match="MIN:MAX"):
        LengthRange.parse("10")


def test_cli_reads_datasets_and_reports_bad_lines(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from aiovertexchat.bench.cli import build_config
    from aiovertexchat.cli.commands import _parser, main

    path = tmp_path / "sg.json"
    path.write_text(json.dumps(SHAREGPT))
    args = _parser().parse_args(["bench", "--prompts", str(path), "--max-tokens", "dataset",
                                 "--turns", "dataset", "--think-time", "50ms", "--sample",
                                 "2", "--prompt-length", "2:", "--ramp-up", "1s",
                                 "--workers", "auto"])
    config = build_config(args)
    w = config.workload
    assert w.max_tokens_from_dataset and w.turns == "dataset" and w.think_time == 0.05
    assert w.prompts is not None and len(w.prompts) == 2
    assert (config.ramp_up, config.workers) == (1.0, "auto")
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt\nfine\n\"\"\n")
    assert main(["bench", "--prompts", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: empty 'prompt'" in err
