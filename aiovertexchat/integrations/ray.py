"""Ray Data: chat completions as a `map_batches` callable class, and a resumable file job.

    import ray
    from aiovertexchat.integrations.ray import ChatCompletions

    ds = ray.data.read_text("gs://bucket/requests.jsonl")          # one column: "text"
    out = ds.map_batches(
        ChatCompletions,
        fn_constructor_kwargs={"project": "p", "location": "us-central1", "max_concurrency": 64},
        compute=ray.data.ActorPoolStrategy(size=4),
        batch_size=64,
    )

`ChatCompletions` takes batches holding request lines, either as JSON text in a `text` column
(what `read_text` gives) or as `custom_id` and `body` columns, and returns the columns `id`,
`custom_id`, `response` and `error`: the OpenAI batch output record, its `response` and `error`
as JSON text (None when absent). Each actor makes one `AsyncVertexChat` lazily, inside the
actor's own event loop (Ray runs async actors' loops on a thread of their own, so a session
made in `__init__` would belong to the wrong loop), sends a batch's rows concurrently under the
client's limits, and closes the client when Ray shuts the actor down. A failed row gets its error
record; it never fails the batch, so Ray never retries a whole batch because of one row.

`run_batch(input, output)` is the `batch` CLI's job on a Ray cluster: OpenAI batch JSONL in,
output and errors JSONL out (the same formats), skipping on a rerun the ids already recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import ray
import ray.data

from ..batch import default_errors_path
from ..client import AsyncVertexChat
from ._worker import ClientFactory, complete_item, make_factory

__all__ = ["COLUMNS", "BatchOutcome", "ChatCompletions", "run_batch"]

COLUMNS = ("id", "custom_id", "response", "error")
DEFAULT_BATCH_SIZE = 64
_encoder = msgspec.json.Encoder()


class _IdOnly(msgspec.Struct):
    custom_id: Any = None


_id_decoder = msgspec.json.Decoder(_IdOnly)


def _text(value: Any) -> str | None:
    return None if value is None else _encoder.encode(value).decode()


def _items(batch: Any) -> list[Any]:
    """The request lines of a batch in any of Ray's batch formats."""
    if hasattr(batch, "to_pydict"):  # pyarrow.Table
        batch = batch.to_pydict()
    elif hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # pandas.DataFrame
        batch = {name: list(batch[name]) for name in batch.columns}
    if "text" in batch:
        return [str(line) for line in batch["text"]]
    if "custom_id" in batch and "body" in batch:
        extra = [name for name in ("method", "url") if name in batch]
        items = []
        for i, (custom_id, body) in enumerate(zip(batch["custom_id"], batch["body"], strict=True)):
            if isinstance(body, (str, bytes)):
                with contextlib.suppress(msgspec.DecodeError):
                    body = msgspec.json.decode(body)
            item = {"custom_id": custom_id, "body": body}
            item.update({name: batch[name][i] for name in extra})
            items.append(item)
        return items
    raise ValueError(
        "ChatCompletions needs a 'text' column of JSONL request lines, or 'custom_id' and "
        f"'body' columns; got {sorted(batch)}"
    )


class ChatCompletions:
    """A callable class for `Dataset.map_batches` (run it with an actor pool).

    `model`: for bodies that name none. `client_factory`: a picklable zero-argument callable
    returning an `AsyncVertexChat`; or else keyword `client_options` for
    `AsyncVertexChat(**client_options)` (`project`, `location`, `base_url`,
    `max_concurrency`, `rate_limit`, ...). `request_options`: passed to every `create()`.
    Nothing is connected in `__init__`.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        client_factory: ClientFactory | None = None,
        request_options: Mapping[str, Any] | None = None,
        **client_options: Any,
    ) -> None:
        self._factory = make_factory(client_factory, client_options)
        self._model = model
        self._options = dict(request_options or {})
        self._client: AsyncVertexChat | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, batch: Any) -> dict[str, list[Any]]:
        client = self._client
        if client is None:
            # Made here, on the loop that will use it; AsyncVertexChat() itself never awaits,
            # so two batches arriving together cannot both make one.
            client = self._client = self._factory()
            self._loop = asyncio.get_running_loop()
        records = await asyncio.gather(
            *(
                complete_item(client, item, model=self._model, options=self._options)
                for item in _items(batch)
            )
        )
        return {
            "id": [record["id"] for record in records],
            "custom_id": [record["custom_id"] for record in records],
            "response": [_text(record["response"]) for record in records],
            "error": [_text(record["error"]) for record in records],
        }

    def __del__(self) -> None:
        # Ray deletes the instance when it shuts the actor down gracefully.
        client, loop = self._client, self._loop
        self._client = None
        if client is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(client.aclose())
        elif loop.is_running():
            future = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=10)


def record_line(row: Mapping[str, Any]) -> bytes:
    """The OpenAI batch output line (newline included) of one `ChatCompletions` output row."""
    response, error = row["response"], row["error"]
    record = {
        "id": row["id"],
        "custom_id": row["custom_id"],
        "response": None if response is None else msgspec.Raw(str(response).encode()),
        "error": None if error is None else msgspec.Raw(str(error).encode()),
    }
    return _encoder.encode(record) + b"\n"


def _recorded_ids(path: Path) -> set[str]:
    """custom_ids already in a JSONL output file; a torn last line (a killed writer) is cut
    off first, so appending starts on a clean line and that item runs again."""
    ids: set[str] = set()
    if not path.exists():
        return ids
    with path.open("r+b") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)
    for line in data[:end].splitlines():
        if line.strip():
            custom_id = _id_decoder.decode(line).custom_id
            if isinstance(custom_id, str):
                ids.add(custom_id)
    return ids


class _Skip:
    """`Dataset.filter` predicate: lines whose custom_id is not recorded yet."""

    def __init__(self, done: frozenset[str]) -> None:
        self._done = done

    def __call__(self, row: Mapping[str, Any]) -> bool:
        try:
            custom_id = _id_decoder.decode(row["text"]).custom_id
        except msgspec.DecodeError:
            return True  # a bad line runs, and gets its error record
        return custom_id not in self._done


@dataclass(frozen=True)
class BatchOutcome:
    """What `run_batch` did: items `succeeded` and `failed` in this run, `skipped` lines whose
    id was already recorded, `duplicates` answers dropped because their id was already
    written in this run."""

    succeeded: int
    failed: int
    skipped: int
    duplicates: int
    output: Path
    errors: Path


def run_batch(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    errors: str | os.PathLike[str] | None = None,
    model: str | None = None,
    actors: int = 2,
    actor_cpus: float = 0.5,
    batch_size: int = DEFAULT_BATCH_SIZE,
    client_factory: ClientFactory | None = None,
    request_options: Mapping[str, Any] | None = None,
    **client_options: Any,
) -> BatchOutcome:
    """Run an OpenAI batch JSONL file on Ray Data; append results to local JSONL files.

    `input`: a path or URI Ray can read (`gs://...` on a cluster). `output` / `errors`: files
    on the driver (errors default to OUTPUT with `.errors.jsonl`), in the `batch` CLI's
    formats; ids already in either are skipped, so rerunning the same call resumes. `actors`:
    size of the actor pool, each actor one client; `actor_cpus`: CPUs Ray reserves per actor
    (default 0.5: the work is waiting on the network, and whole CPUs for every actor would leave
    none for the tasks reading the input on a small cluster); `batch_size`: rows per call
    (sent concurrently). The client arguments are `ChatCompletions`'. Results stream to the driver
    as they finish and are appended there, so each id is written once per file even when Ray
    re-runs a task. Ray must be initialised (`ray.init()`), or it starts a local instance.
    """
    output_path = Path(output)
    errors_path = Path(errors) if errors is not None else default_errors_path(output_path)
    done = frozenset(_recorded_ids(output_path) | _recorded_ids(errors_path))
    make_factory(client_factory, client_options)  # fail here, not on every actor
    dataset = ray.data.read_text(os.fspath(input))
    total = dataset.count()
    if done:
        dataset = dataset.filter(_Skip(done))
    results = dataset.map_batches(
        ChatCompletions,
        fn_constructor_kwargs={
            "model": model,
            "client_factory": client_factory,
            "request_options": request_options,
            **client_options,
        },
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=actor_cpus,
        batch_size=batch_size,
    )
    succeeded = failed = duplicates = 0
    written: set[str] = set()
    with output_path.open("ab") as ok_file, errors_path.open("ab") as bad_file:
        for batch in results.iter_batches(batch_format="pandas", batch_size=None):
            ok_lines: list[bytes] = []
            bad_lines: list[bytes] = []
            for row in _rows(batch):
                custom_id = row["custom_id"]
                if isinstance(custom_id, str):
                    if custom_id in written:
                        duplicates += 1
                        continue
                    written.add(custom_id)
                (ok_lines if row["error"] is None else bad_lines).append(record_line(row))
            if ok_lines:
                ok_file.write(b"".join(ok_lines))
                ok_file.flush()
            if bad_lines:
                bad_file.write(b"".join(bad_lines))
                bad_file.flush()
            succeeded += len(ok_lines)
            failed += len(bad_lines)
        for f in (ok_file, bad_file):
            f.flush()
            os.fsync(f.fileno())
    return BatchOutcome(
        succeeded=succeeded,
        failed=failed,
        skipped=total - (succeeded + failed + duplicates) if done else 0,
        duplicates=duplicates,
        output=output_path,
        errors=errors_path,
    )


def _rows(batch: Any) -> Iterator[dict[str, Any]]:
    columns = {name: list(batch[name]) for name in COLUMNS}
    for i in range(len(columns["id"])):
        row = {name: columns[name][i] for name in COLUMNS}
        for name in ("response", "error"):
            value = row[name]
            if value is not None and not isinstance(value, str):  # pandas' NaN for None
                row[name] = None
        yield row
