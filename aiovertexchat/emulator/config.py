"""How the emulator behaves: latency, answer length, auth, streaming details, faults, capacity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .dialects import dialect_named
from .faults import Fault

__all__ = ["EmulatorConfig", "UsageInStream"]

UsageInStream = Literal["always", "on_request", "never"]
ToolCallDeltas = Literal["auto", "openai", "gemini"]
UntaggedThoughts = Literal["parts", "inline"]
SignatureNamespace = Literal["google", "vertex"]

_USAGE_MODES = ("always", "on_request", "never")
_TOOL_CALL_DELTAS = ("auto", "openai", "gemini")
_UNTAGGED_THOUGHTS = ("parts", "inline")
_SIGNATURE_NAMESPACES = ("google", "vertex")


@dataclass
class EmulatorConfig:
    """Settings of one emulator.

    Deliberately mutable: the server reads it on every request, so a test can flip a setting
    between two requests without restarting anything.
    """

    ttft: float = 0.0
    """Seconds before the first chunk; for a non-streaming answer, before the whole response."""
    itl: float = 0.0
    """Seconds between two chunks; a non-streaming answer also waits `itl * (chunks - 1)`."""
    completion_tokens: int = 32
    """Answer length when the request sets no `max_tokens` and no `[[tokens=N]]` hook."""
    seed: int = 0
    """Mixed into every answer and into the fault-rate RNG."""
    require_auth: bool = True
    """Answer 401 to requests without a non-empty `Authorization: Bearer ...` header."""
    accepted_tokens: frozenset[str] | None = None
    """When set, only these bearer tokens pass; any other one gets the 401 that Vertex gives
    for an expired token (lets client tests exercise "refresh once, retry once")."""
    require_issued_tokens: bool = False
    """Only live tokens issued by this emulator's `POST /token` pass (besides `accepted_tokens`);
    an expired or unknown one gets Vertex's 401 (`ACCESS_TOKEN_TYPE_UNSUPPORTED`)."""
    token_lifetime: float = 3600.0
    """Seconds a token from `POST /token` lives (`expires_in`); tests use a few seconds."""
    send_done: bool = True
    """End streams with `data: [DONE]` (OpenAI-compatible servers, unverified on Vertex)."""
    usage_in_stream: UsageInStream = "on_request"
    """`on_request` follows `stream_options.include_usage`."""
    faults: tuple[Fault, ...] = ()
    """Faults drawn at random (see `fault_rate`) for requests that carry no fault header."""
    fault_rate: float = 0.0
    """Probability that a request gets one fault from `faults`, from an RNG seeded by `seed`."""
    max_concurrency: int | None = None
    """In-flight requests beyond this answer 429 (a stream is in flight until it ends)."""
    max_rpm: int | None = None
    """Admitted requests per sliding 60 s window beyond this answer 429."""
    tool_call_deltas: ToolCallDeltas = "auto"
    """How streamed tool calls look: `openai` (an `index` on every delta, id and name first,
    then argument fragments), `gemini` (each call whole in one delta, no `index`, `id: ""`),
    or `auto` (gemini on the managed `endpoints/openapi` route, openai elsewhere)."""
    thoughts_without_marker: UntaggedThoughts = "parts"
    """Shown thoughts when the request names no `thought_tag_marker`: `parts` (content parts /
    deltas flagged `extra_content.google.thought`) or `inline` (untagged text before the
    answer, as Google documents for this case)."""

    signature_namespace: SignatureNamespace = "google"
    """Where Gemini 3 thought signatures go on tool calls: `extra_content.google` (documented)
    or `extra_content.vertex` (as some users report). Both are accepted back."""

    dialect: str | None = None
    """Answer as another OpenAI-compatible server does (`dialects.DIALECTS`: vllm, tgi,
    llamacpp, ollama, sglang, gemini, openai); None is the Vertex behaviour. A request's
    `X-Emulator-Dialect` header overrides it."""

    def gemini_tool_deltas(self, *, managed: bool) -> bool:
        return self.tool_call_deltas == "gemini" or (self.tool_call_deltas == "auto" and managed)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if self.ttft < 0 or self.itl < 0:
            raise ValueError("ttft and itl must be >= 0")
        if self.completion_tokens < 0:
            raise ValueError("completion_tokens must be >= 0")
        if self.usage_in_stream not in _USAGE_MODES:
            raise ValueError(f"usage_in_stream must be one of {_USAGE_MODES}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be within [0, 1]")
        if not all(isinstance(f, Fault) for f in self.faults):
            raise ValueError("faults must be Fault objects (use Fault.parse for strings)")
        if self.max_concurrency is not None and self.max_concurrency < 0:
            raise ValueError("max_concurrency must be >= 0 or None")
        if self.max_rpm is not None and self.max_rpm < 0:
            raise ValueError("max_rpm must be >= 0 or None")
        if not self.token_lifetime > 0:
            raise ValueError("token_lifetime must be > 0 seconds")
        if self.tool_call_deltas not in _TOOL_CALL_DELTAS:
            raise ValueError(f"tool_call_deltas must be one of {_TOOL_CALL_DELTAS}")
        if self.thoughts_without_marker not in _UNTAGGED_THOUGHTS:
            raise ValueError(f"thoughts_without_marker must be one of {_UNTAGGED_THOUGHTS}")
        if self.signature_namespace not in _SIGNATURE_NAMESPACES:
            raise ValueError(f"signature_namespace must be one of {_SIGNATURE_NAMESPACES}")
        dialect_named(self.dialect)  # ValueError names the known dialects
