"""Prompt datasets: ShareGPT JSON, JSONL of prompts or messages, CSV with a prompt column.

Formats (`--dataset-format auto` picks by the file name: `.json` ShareGPT, `.csv` CSV, anything
else JSONL):
- **ShareGPT** JSON: an array of `{"conversations": [{"from": "human"|"gpt"|"system", "value":
  ...}, ...]}` (`"user"`/`"assistant"` and `role`/`content` keys are read too). A conversation
  gives a prompt (its first user turn, after any system turn), the answer that followed it, and
  its further user turns with their answers (for `--turns dataset`).
- **JSONL**: one entry per line: a JSON string (the prompt), `{"prompt": ...}`, `{"messages":
  [...]}` (a final assistant message is the answer, not part of the prompt), or a ShareGPT
  object; optional `"max_tokens"`, and `"completion"` (the answer text).
- **CSV** with a header: the prompt in `--prompt-column` (default `prompt`); the answer, when
  one is wanted, in `--answer-column` (default: the first of `completion`, `response`,
  `answer`, `output` present); an optional `max_tokens` column.

Every bad line is reported with its line number (the whole file is read first; nothing is sent
when any line is bad). Answer lengths are measured with the run's counter (tokenizer tokens with
`--tokenizer`, else words) and become each prompt's `max_tokens` with `--max-tokens dataset`.
`select` then filters by prompt length and samples with a seed.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .workload import PromptEntry, Turn

__all__ = ["FORMATS", "DatasetError", "LengthRange", "load_dataset", "select"]

Format = Literal["auto", "sharegpt", "jsonl", "csv"]
FORMATS: tuple[str, ...] = ("auto", "sharegpt", "jsonl", "csv")
_MAX_LISTED = 20
_USER = {"human", "user"}
_ASSISTANT = {"gpt", "assistant", "bot", "model", "chatgpt"}
_SYSTEM = {"system"}
_ANSWER_COLUMNS = ("completion", "response", "answer", "output")
_JSONL_KEYS = {"prompt", "messages", "max_tokens", "completion", "conversations", "id"}


class DatasetError(ValueError):
    """A dataset file with bad entries; the message lists them with their line numbers."""

    def __init__(self, path: str, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = list(problems)
        shown = [f"  {path}:{line}: {text}" for line, text in self.problems[:_MAX_LISTED]]
        more = len(self.problems) - _MAX_LISTED
        if more > 0:
            shown.append(f"  ... and {more} more")
        head = (f"{path}: {len(self.problems)} bad line(s); nothing was sent. Fix them and run "
                "again:")
        super().__init__("\n".join([head, *shown]))


class _Bad(ValueError):
    pass


@dataclass(frozen=True)
class LengthRange:
    """Prompt-length filter `MIN:MAX` (either side may be empty), in the run's counter units."""

    low: int | None = None
    high: int | None = None

    @classmethod
    def parse(cls, text: str) -> LengthRange:
        low, colon, high = text.partition(":")
        if not colon:
            raise ValueError(f"prompt length range {text!r} must be MIN:MAX (e.g. 100:2000, "
                             ":512, 64:)")
        try:
            result = cls(int(low) if low.strip() else None, int(high) if high.strip() else None)
        except ValueError:
            raise ValueError(f"prompt length range {text!r}: MIN and MAX are whole numbers") \
                from None
        if result.low is not None and result.high is not None and result.low > result.high:
            raise ValueError(f"prompt length range {text!r}: MIN is above MAX")
        return result

    def __contains__(self, length: object) -> bool:
        assert isinstance(length, int)
        return (self.low is None or length >= self.low) and (
            self.high is None or length <= self.high)

    def __str__(self) -> str:
        return f"{'' if self.low is None else self.low}:{'' if self.high is None else self.high}"


def _count_words(text: str) -> int:
    return len(text.split())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        return " ".join(p["text"] for p in value if isinstance(p, dict)
                        and isinstance(p.get("text"), str))
    raise _Bad("message content must be a string or a list of text parts")


def _conversation(turns: Any, counter: Callable[[str], int]) -> PromptEntry:
    """A ShareGPT conversation as a prompt entry (first user turn, its answer, the rest)."""
    if not isinstance(turns, list) or not turns:
        raise _Bad("conversations must be a non-empty list")
    system: list[dict[str, Any]] = []
    users: list[str] = []
    answers: list[int | None] = []
    for position, turn in enumerate(turns, 1):
        if not isinstance(turn, dict):
            raise _Bad(f"turn {position} is not an object")
        speaker = str(turn.get("from", turn.get("role", ""))).lower()
        value = turn.get("value", turn.get("content"))
        if not isinstance(value, str):
            raise _Bad(f"turn {position} has no string value")
        if speaker in _SYSTEM and not users:
            system.append({"role": "system", "content": value})
        elif speaker in _USER:
            if len(answers) < len(users):
                answers.append(None)  # two user turns in a row: the first got no answer
            users.append(value)
        elif speaker in _ASSISTANT:
            if users and len(answers) < len(users):
                answers.append(counter(value))
        else:
            raise _Bad(f"turn {position} is from {speaker!r}; expected human/gpt/system")
    if not users:
        raise _Bad("the conversation has no user turn")
    answers += [None] * (len(users) - len(answers))
    messages = (*system, {"role": "user", "content": users[0]})
    followups = tuple(Turn(text, answer) for text, answer in zip(users[1:], answers[1:],
                                                                 strict=True))
    return PromptEntry(messages, None, answers[0], followups)


def _jsonl_entry(line: Any, counter: Callable[[str], int]) -> PromptEntry:
    if isinstance(line, str):
        if not line.strip():
            raise _Bad("empty prompt")
        return PromptEntry(({"role": "user", "content": line},))
    if not isinstance(line, dict):
        raise _Bad(f"expected a JSON string or object, got {type(line).__name__}")
    unknown = set(line) - _JSONL_KEYS
    if unknown:
        raise _Bad(f"unknown keys {sorted(unknown)}; use prompt or messages (or ShareGPT "
                   "conversations), and optionally max_tokens and completion")
    max_tokens = line.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(
            max_tokens, bool) or max_tokens < 1):
        raise _Bad("max_tokens must be a positive integer")
    completion = line.get("completion")
    if completion is not None and not isinstance(completion, str):
        raise _Bad("completion must be a string")
    answer = counter(completion) if completion is not None else None
    if "conversations" in line:
        entry = _conversation(line["conversations"], counter)
        return replace(entry, max_tokens=max_tokens)
    if "messages" in line:
        messages = line["messages"]
        if (not isinstance(messages, list) or not messages
                or not all(isinstance(m, dict) and "role" in m for m in messages)):
            raise _Bad("messages must be a non-empty list of {role, content}")
        if len(messages) > 1 and messages[-1].get("role") == "assistant":
            answer = counter(_text(messages[-1].get("content")))
            messages = messages[:-1]
        return PromptEntry(tuple(messages), max_tokens, answer)
    if isinstance(line.get("prompt"), str):
        return PromptEntry(({"role": "user", "content": line["prompt"]},), max_tokens, answer)
    raise _Bad("needs a string `prompt` or a `messages` list")


def _jsonl(path: Path, counter: Callable[[str], int]) -> Iterator[tuple[int, PromptEntry | str]]:
    with open(path, encoding="utf-8", errors="strict") as handle:
        number = 0
        while True:
            number += 1
            try:
                raw = handle.readline()
            except UnicodeDecodeError as exc:
                yield number, f"not UTF-8 text ({exc.reason})"
                return
            if not raw:
                return
            if not raw.strip():
                continue
            try:
                decoded = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield number, f"not JSON ({exc.msg})"
                continue
            try:
                yield number, _jsonl_entry(decoded, counter)
            except _Bad as exc:
                yield number, str(exc)


def _sharegpt(path: Path, counter: Callable[[str], int]
              ) -> Iterator[tuple[int, PromptEntry | str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        yield 1, f"not UTF-8 text ({exc.reason})"
        return
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if pos >= len(text) or text[pos] != "[":
        yield text.count("\n", 0, pos) + 1, "a ShareGPT file is a JSON array of conversations"
        return
    pos = _skip(text, pos + 1)
    line, counted = 1, 0
    first = True
    while pos < len(text) and text[pos] != "]":
        if not first:
            if text[pos] != ",":
                line += text.count("\n", counted, pos)
                yield line, "expected ',' between conversations"
                return
            pos = _skip(text, pos + 1)
        first = False
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield exc.lineno, f"not JSON ({exc.msg})"
            return
        try:
            if not isinstance(item, dict) or "conversations" not in item:
                raise _Bad("each element needs a `conversations` list")
            yield line, _conversation(item["conversations"], counter)
        except _Bad as exc:
            yield line, str(exc)
        pos = _skip(text, end)
    if pos >= len(text):
        yield text.count("\n") + 1, "the JSON array is not closed"


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _csv(path: Path, counter: Callable[[str], int], prompt_column: str,
         answer_column: str | None) -> Iterator[tuple[int, PromptEntry | str]]:
    try:
        handle = open(path, encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError:
        raise
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (UnicodeDecodeError, csv.Error) as exc:
            yield 1, f"unreadable header ({exc})"
            return
        if prompt_column not in header:
            yield 1, f"no {prompt_column!r} column (columns: {', '.join(header) or 'none'}); " \
                     "name it with --prompt-column"
            return
        answer = answer_column or next((c for c in _ANSWER_COLUMNS if c in header), None)
        if answer_column is not None and answer_column not in header:
            yield 1, f"no {answer_column!r} answer column"
            return
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as exc:
                yield reader.line_num + 1, f"unreadable row ({exc})"
                return
            # The row's first line: its last, less the newlines inside quoted fields (blank
            # lines the reader skipped are then not counted against it).
            line = reader.line_num - sum(
                v.count("\n") for v in row.values() if isinstance(v, str))
            if None in row:
                yield line, f"{len(header) + len(row[None])} fields; the header has {len(header)}"
                continue
            if any(v is None for v in row.values()):
                yield line, f"fewer fields than the header's {len(header)}"
                continue
            prompt = row[prompt_column]
            if not prompt.strip():
                yield line, f"empty {prompt_column!r}"
                continue
            max_tokens: int | None = None
            limit = (row.get("max_tokens") or "").strip()
            if limit:
                if not limit.isdigit() or int(limit) < 1:
                    yield line, "max_tokens must be a positive integer"
                    continue
                max_tokens = int(limit)
            answer_tokens = counter(row[answer]) if answer and row[answer].strip() else None
            yield line, PromptEntry(({"role": "user", "content": prompt},), max_tokens,
                                    answer_tokens)


def detect_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return {".json": "sharegpt", ".csv": "csv"}.get(suffix, "jsonl")


def load_dataset(
    path: str | Path,
    *,
    fmt: str = "auto",
    counter: Callable[[str], int] | None = None,
    prompt_column: str = "prompt",
    answer_column: str | None = None,
    need_answers: bool = False,
) -> list[PromptEntry]:
    """Read every entry of a dataset file (formats in the module docstring).

    `counter` measures answers (default: words). With `need_answers` (`--max-tokens dataset`)
    an entry without an answer is a bad line. Raises DatasetError listing every bad line with
    its number, ValueError for an empty file or an unknown format, OSError for an unreadable
    file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)}")
    kind = detect_format(path) if fmt == "auto" else fmt
    measure = counter or _count_words
    source = Path(path)
    if kind == "sharegpt":
        rows = _sharegpt(source, measure)
    elif kind == "csv":
        rows = _csv(source, measure, prompt_column, answer_column)
    else:
        rows = _jsonl(source, measure)
    entries: list[PromptEntry] = []
    problems: list[tuple[int, str]] = []
    for line, item in rows:
        if isinstance(item, str):
            problems.append((line, item))
        elif need_answers and item.answer_tokens is None and item.max_tokens is None:
            problems.append((line, "no answer to take max_tokens from (--max-tokens dataset)"))
        else:
            entries.append(item)
    if problems:
        raise DatasetError(str(path), problems)
    if not entries:
        raise ValueError(f"{path}: no prompts in the file")
    return entries


def prompt_text(entry: PromptEntry) -> str:
    """The text of an entry's prompt messages, joined (what its length is measured on)."""
    parts = []
    for message in entry.messages:
        content = message.get("content")
        try:
            parts.append(_text(content) if content is not None else "")
        except _Bad:
            continue
    return "\n".join(parts)


def select(
    entries: Sequence[PromptEntry],
    *,
    sample: int | None = None,
    seed: int = 0,
    prompt_length: LengthRange | None = None,
    counter: Callable[[str], int] | None = None,
) -> list[PromptEntry]:
    """Keep the entries whose prompt length is in `prompt_length` (counter units, default
    words), then draw `sample` of them without replacement with `seed` (all, in file order,
    when `sample` is None). Raises ValueError when nothing is left or too few to sample."""
    measure = counter or _count_words
    kept = list(entries)
    if prompt_length is not None:
        kept = [e for e in kept if measure(prompt_text(e)) in prompt_length]
        if not kept:
            raise ValueError(f"no prompt is within the length range {prompt_length} "
                             f"(of {len(entries)})")
    if sample is not None:
        if sample < 1:
            raise ValueError("--sample must be >= 1")
        if sample > len(kept):
            raise ValueError(f"--sample {sample} is more than the {len(kept)} prompts "
                             "available")
        kept = random.Random(seed).sample(kept, sample)
    return kept
