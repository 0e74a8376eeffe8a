"""Server dialects: how OpenAI-compatible servers other than Vertex shape the same answer. Sans-IO.

Self-deployed Vertex endpoints run vLLM, TGI, llama.cpp or SGLang containers, and clients are
pointed at Ollama and gateways too. Each speaks the Chat Completions wire format with quirks of
its own, documented in those projects' bug trackers. A `Dialect` is one server's quirks, one field
per quirk, and `DIALECTS` is the one table of them: a new server's quirk is one entry here.

The default (no dialect) is the emulator's Vertex behaviour, unchanged. A dialect is chosen for
the whole emulator (`EmulatorConfig.dialect`, `--dialect`) or per request with the
`X-Emulator-Dialect` header. It reshapes the answer the planner made; what the answer says
(words, tool arguments, usage) stays the same, so a client's result must not depend on it.

Sources, by quirk (public bug reports):
- `pending_finish=""`: ollama/ollama#4357, sgl-project/sglang#3912 (fixed later: sglang#3391).
- `role_on_every_chunk`: the Ollama chunks quoted in ollama/ollama#4357.
- `chunk_id=""`, `tool_calls` as one object, `"name": null`:
  huggingface/text-generation-inference#2794.
- arguments as a JSON object: text-generation-inference#2136, ggml-org/llama.cpp#20198.
- every streamed call at index 0 with its own id: whole calls from Ollama (ollama/ollama#15457,
  vercel/ai#14277, NousResearch/hermes-agent#3468); id-then-fragments from SGLang's Qwen3 parser
  (sgl-project/sglang#6310) and vLLM-based dynamo (ai-dynamo/dynamo#4723).
- `reasoning_content`: llama.cpp, DeepSeek, SGLang, vLLM before vllm-project/vllm#27752 (which
  renamed it `reasoning`); `reasoning` with `"content": ""` from Ollama (ollama/ollama#15288).
- `continuous_usage_stats`: vllm-project/vllm#5708 / #6652, sgl-project/sglang#12241.
- error bodies: vLLM/SGLang `{"object": "error", ...}` (QwenLM/Qwen3#241); FastAPI's
  `{"detail": "Not Found"}` (vllm-project/vllm#5082, hiyouga/LlamaFactory#4868); TGI's
  `{"error": "...", "error_type": "validation"}` (opea-project/GenAIInfra#487); llama.cpp's
  `{"error": {"code", "message", "type"}}` (ggml-org/llama.cpp#23542).
- Gemini: `"id": null, "choices": null` with usage for an answer without a candidate
  (michelle-avery/custom-conversation#24, langroid#705); errors as a one-element list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import msgspec

__all__ = [
    "DIALECTS",
    "DIALECT_HEADER",
    "Dialect",
    "dialect_named",
]

DIALECT_HEADER = "X-Emulator-Dialect"

ToolDeltas = Literal["openai", "gemini", "same_index", "whole_same_index", "object"]
Reasoning = Literal["parts", "reasoning", "reasoning_content", "hidden"]
ErrorShape = Literal["google", "google_list", "openai", "vllm", "tgi", "llamacpp", "ollama"]
NotFound = Literal["google", "fastapi", "text", "llamacpp", "empty"]

_JSON = "application/json"


@dataclass(frozen=True)
class Dialect:
    """One server's quirks. Defaults are plain OpenAI behaviour."""

    name: str
    server: str
    """Who sends it, for `--help` and the README table."""
    pending_finish: str | None = None
    """`finish_reason` on chunks that do not finish a choice: null, or `""` (Ollama, SGLang)."""
    role_on_every_chunk: bool = False
    """`"role": "assistant"` on every delta, not only the first (Ollama)."""
    chunk_id: str | None = None
    """A fixed chunk `id` (TGI sends `""`); None keeps the completion id."""
    chunk_extras: Mapping[str, Any] = field(default_factory=dict)
    """Extra top-level chunk fields a client must skip (`system_fingerprint`, `usage: null`)."""
    choice_extras: Mapping[str, Any] = field(default_factory=dict)
    """Extra per-choice chunk fields (vLLM's `stop_reason`, SGLang's `matched_stop`)."""
    tool_deltas: ToolDeltas = "openai"
    """Streamed tool calls: `openai` (index per call, id and name first, then fragments),
    `gemini` (whole call in one delta, no index, `id: ""`), `same_index` (as openai, but every
    call at index 0), `whole_same_index` (whole call in one delta, every call at index 0, each
    with its own id), `object` (`tool_calls` is one object, not a list; `id: ""`, `name: null`
    after the first delta)."""
    reasoning: Reasoning = "reasoning"
    """Where shown thinking goes: `parts` (Gemini: text flagged `extra_content.google.thought`,
    only with `include_thoughts`), `reasoning` / `reasoning_content` (a field of the delta and
    message, whenever the model thinks), `hidden` (counted in usage, never sent: OpenAI)."""
    blank_content_with_reasoning: bool = False
    """Reasoning deltas also carry `"content": ""` (Ollama)."""
    arguments_as_object: bool = False
    """Non-streamed tool-call `arguments` as a JSON object, not a string (llama.cpp, TGI)."""
    continuous_usage: bool = False
    """Honours `stream_options.continuous_usage_stats`: running usage on every chunk."""
    no_candidate_as_nulls: bool = False
    """An answer without a candidate is `{"id": null, "choices": null, "usage": ...}` (Gemini);
    otherwise `"choices": []`."""
    errors: ErrorShape = "openai"
    """The body of an error answer, and of an error sent inside a stream."""
    not_found: NotFound = "empty"
    """The body of a 404 for a path the server does not serve."""

    # -- error bodies ----------------------------------------------------------------------
    def error_body(self, code: int, message: str, reason: str | None = None) -> bytes:
        """An error answer's body in this server's shape."""
        return msgspec.json.encode(self._error_object(code, message, reason))

    def stream_error(self, code: int, message: str, reason: str | None = None) -> bytes:
        """The event that reports an error after a stream began (HTTP status already 200)."""
        payload: Any = self._error_object(code, message, reason)
        if self.errors == "google_list":
            payload = payload[0]  # in a stream Gemini sends the object, not the list
        elif self.errors == "vllm":
            payload = {"error": payload}  # vLLM wraps its error response in a data event
        return b"data: " + msgspec.json.encode(payload) + b"\n\n"

    def not_found_body(self, path: str) -> tuple[bytes, str]:
        """(body, content type) of a 404 for a path the server does not serve."""
        if self.not_found == "fastapi":
            return b'{"detail":"Not Found"}', _JSON
        if self.not_found == "text":
            return b"404 page not found\n", "text/plain; charset=utf-8"
        if self.not_found == "llamacpp":
            body = {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
            return msgspec.json.encode(body), _JSON
        if self.not_found == "google":
            return self.error_body(404, f"The requested URL {path} was not found."), _JSON
        return b"", _JSON

    def _error_object(self, code: int, message: str, reason: str | None) -> Any:
        shape = self.errors
        if shape in ("google", "google_list"):
            error: dict[str, Any] = {"code": code, "message": message, "status": _google(code)}
            if reason is not None:
                error["details"] = [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "googleapis.com",
                }]
            return [{"error": error}] if shape == "google_list" else {"error": error}
        if shape == "vllm":
            return {
                "object": "error", "message": message, "type": _exception_name(code),
                "param": None, "code": code,
            }
        if shape == "tgi":
            return {"error": message, "error_type": _tgi_type(code)}
        if shape == "llamacpp":
            return {"error": {"code": code, "message": message, "type": _openai_type(code)}}
        if shape == "ollama":
            return {"error": {
                "message": message, "type": _openai_type(code), "param": None, "code": None,
            }}
        return {"error": {
            "message": message, "type": _openai_type(code), "param": None,
            "code": "rate_limit_exceeded" if code == 429 else None,
        }}


def _google(code: int) -> str:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
             504: "DEADLINE_EXCEEDED"}
    return names.get(code, "UNKNOWN")


def _openai_type(code: int) -> str:
    names = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
             404: "not_found_error", 422: "invalid_request_error", 429: "rate_limit_error"}
    return names.get(code, "server_error" if code >= 500 else "invalid_request_error")


def _exception_name(code: int) -> str:
    # vLLM names the exception class in `type`.
    names = {400: "BadRequestError", 404: "NotFoundError", 422: "BadRequestError"}
    return names.get(code, "InternalServerError" if code >= 500 else _phrase(code))


def _tgi_type(code: int) -> str:
    if code in (429, 503):
        return "overloaded"
    return "validation" if code < 500 else "generation"


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase.replace(" ", "")
    except ValueError:
        return "Error"


DIALECTS: Mapping[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "openai", "OpenAI (api.openai.com), LM Studio, most gateways",
            reasoning="hidden",
            chunk_extras={"system_fingerprint": "fp_emulator", "service_tier": "default"},
            choice_extras={"logprobs": None},
        ),
        Dialect(
            "gemini", "Vertex AI / Gemini OpenAI-compatible endpoint",
            tool_deltas="gemini", reasoning="parts", no_candidate_as_nulls=True,
            errors="google_list", not_found="google",
        ),
        Dialect(
            "vllm", "vLLM (OpenAI-compatible server, FastAPI)",
            chunk_extras={"usage": None},
            choice_extras={"logprobs": None, "stop_reason": None},
            reasoning="reasoning_content", continuous_usage=True,
            errors="vllm", not_found="fastapi",
        ),
        Dialect(
            "sglang", "SGLang (FastAPI)",
            pending_finish="", reasoning="reasoning_content", tool_deltas="same_index",
            chunk_extras={"usage": None},
            choice_extras={"logprobs": None, "matched_stop": None},
            continuous_usage=True, errors="vllm", not_found="fastapi",
        ),
        Dialect(
            "tgi", "Hugging Face text-generation-inference",
            # No reasoning parser: thinking is billed but not sent apart from the text.
            chunk_id="", tool_deltas="object", arguments_as_object=True, reasoning="hidden",
            chunk_extras={"system_fingerprint": "2.4.1-sha-emulator", "usage": None},
            choice_extras={"logprobs": None},
            errors="tgi", not_found="empty",
        ),
        Dialect(
            "llamacpp", "llama.cpp llama-server",
            reasoning="reasoning_content", arguments_as_object=True,
            chunk_extras={"system_fingerprint": "b0000-emulator"},
            errors="llamacpp", not_found="llamacpp",
        ),
        Dialect(
            "ollama", "Ollama (/v1 OpenAI compatibility)",
            pending_finish="", role_on_every_chunk=True, tool_deltas="whole_same_index",
            reasoning="reasoning", blank_content_with_reasoning=True,
            chunk_extras={"system_fingerprint": "fp_ollama"},
            errors="ollama", not_found="text",
        ),
    )
}
"""Every dialect by name: the one table of server quirks."""


def dialect_named(name: str | None) -> Dialect | None:
    """The dialect called `name` (None: the default Vertex behaviour); ValueError names the
    known ones."""
    if name is None or name == "" or name == "vertex":
        return None
    try:
        return DIALECTS[name]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"unknown dialect {name!r}; known: {known}") from None
