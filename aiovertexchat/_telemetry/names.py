"""Every name the telemetry emits: attribute keys, metric names, units and bucket advice.

The GenAI names are those of the OpenTelemetry semantic conventions (the `gen_ai.*` registry,
published in `opentelemetry-semantic-conventions`). They are spelled out here rather than
imported, because the `[otel]` extra installs the API only, and the conventions package keeps
them in an `_incubating` module that moves between releases; `tests/telemetry` checks each one
against the installed conventions package. Our own names live under `aiovertexchat.*`.

No import of `opentelemetry` here: this module is read when telemetry is off too.
"""

from __future__ import annotations

from typing import Final

# -- the instrumentation scope ------------------------------------------------------------------
SCOPE: Final = "aiovertexchat"

# -- GenAI attributes (semantic conventions) -----------------------------------------------------
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
REQUEST_STREAM: Final = "gen_ai.request.stream"
OUTPUT_TYPE: Final = "gen_ai.output.type"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
TOKEN_TYPE: Final = "gen_ai.token.type"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "gen_ai.openai.response.system_fingerprint"

# -- general attributes (stable conventions) ------------------------------------------------------
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"

# -- values ---------------------------------------------------------------------------------------
OPERATION_CHAT: Final = "chat"
TOKEN_INPUT: Final = "input"
TOKEN_OUTPUT: Final = "output"
PROVIDER_OTHER: Final = "_OTHER"  # the conventions' value when no listed provider applies

# -- ours -----------------------------------------------------------------------------------------
ATTEMPTS: Final = "aiovertexchat.attempts"
"""Span: requests sent for the call (retries and stream restarts included)."""
ATTEMPT_NUMBER: Final = "aiovertexchat.attempt"
"""Attempt event: 1 for the first request, 2 for the first retry, ..."""
RETRY_CAUSE: Final = "aiovertexchat.retry.cause"
"""Attempt event and retry counter: the retry cause (`Failure.label`: "429", "connect", ...)."""
RETRY_DELAY: Final = "aiovertexchat.retry.delay"
"""Attempt event: seconds of backoff before the next attempt."""
RETRY_STOPPED: Final = "aiovertexchat.retry.stopped"
"""Attempt event: why a retryable failure was not retried (attempts, budget, deadline)."""
WAIT_KIND: Final = "aiovertexchat.wait.kind"
"""Wait histogram: what the call waited for (`WAIT_KINDS`)."""
WAIT_SECONDS: Final = "aiovertexchat.wait"
"""Span attribute prefix: `aiovertexchat.wait.<kind>` = seconds waited over every attempt."""
COST_USD: Final = "aiovertexchat.cost.usd"
"""Span: the call's dollar cost from `usage` and the price table (absent: unknown model)."""
STREAM_OUTCOME: Final = "aiovertexchat.stream.outcome"
"""Span: how a stream ended: finished, failed, cancelled or closed (by the caller, early)."""
REQUEST_ID: Final = "aiovertexchat.response.request_id"
"""Span: the server's request id header, to quote to the provider's support."""

EVENT_ATTEMPT: Final = "aiovertexchat.attempt"
"""Span event: one per request sent (status, retry cause and delay)."""

WAIT_GATE: Final = "concurrency"
WAIT_RATE: Final = "rate_limit"
WAIT_TOKEN: Final = "token"
WAIT_KINDS: Final = (WAIT_GATE, WAIT_RATE, WAIT_TOKEN)

# -- metrics: (name, unit, description) -----------------------------------------------------------
OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"

COST: Final = "aiovertexchat.client.cost"
ATTEMPT_COUNT: Final = "aiovertexchat.client.attempts"
RETRY_COUNT: Final = "aiovertexchat.client.retries"
RATE_LIMITED: Final = "aiovertexchat.client.rate_limited"
WAIT_DURATION: Final = "aiovertexchat.client.wait.duration"
CONCURRENCY_LIMIT: Final = "aiovertexchat.client.concurrency.limit"
IN_FLIGHT: Final = "aiovertexchat.client.requests.in_flight"
QUEUED: Final = "aiovertexchat.client.requests.queued"
WAITING_FOR_RATE: Final = "aiovertexchat.client.requests.waiting_for_rate"

# The conventions' bucket advice: seconds doubling from 10 ms, and tokens by powers of four.
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
# The shortest wait the wait histogram counts: below it the slot was free or the token cached
# (what is measured then is our own bookkeeping), and recording those would cost every call.
WAITED: Final = 0.0001
# Ours: a millisecond floor (a free slot or a cached token waits ~0) up to a minute of queueing.
WAIT_BUCKETS: Final = (
    0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)

# -- environment ----------------------------------------------------------------------------------
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CHUNK_LATENCY_ENV: Final = "AIOVERTEXCHAT_OTEL_CHUNK_LATENCY"
