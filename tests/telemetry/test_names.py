"""Our spelling of the GenAI conventions' names, checked against the installed conventions
package (`opentelemetry-semantic-conventions`): a rename there fails here, not on a dashboard."""

from __future__ import annotations

import pytest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes, server_attributes

from aiovertexchat._telemetry import names
from aiovertexchat._telemetry.provider import provider_name

PINNED = [
    (names.OPERATION_NAME, gen_ai.GEN_AI_OPERATION_NAME),
    (names.PROVIDER_NAME, gen_ai.GEN_AI_PROVIDER_NAME),
    (names.REQUEST_MODEL, gen_ai.GEN_AI_REQUEST_MODEL),
    (names.REQUEST_MAX_TOKENS, gen_ai.GEN_AI_REQUEST_MAX_TOKENS),
    (names.REQUEST_TEMPERATURE, gen_ai.GEN_AI_REQUEST_TEMPERATURE),
    (names.REQUEST_TOP_P, gen_ai.GEN_AI_REQUEST_TOP_P),
    (names.REQUEST_TOP_K, gen_ai.GEN_AI_REQUEST_TOP_K),
    (names.REQUEST_SEED, gen_ai.GEN_AI_REQUEST_SEED),
    (names.REQUEST_STOP_SEQUENCES, gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES),
    (names.REQUEST_FREQUENCY_PENALTY, gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    (names.REQUEST_PRESENCE_PENALTY, gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY),
    (names.REQUEST_CHOICE_COUNT, gen_ai.GEN_AI_REQUEST_CHOICE_COUNT),
    (names.REQUEST_STREAM, gen_ai.GEN_AI_REQUEST_STREAM),
    (names.OUTPUT_TYPE, gen_ai.GEN_AI_OUTPUT_TYPE),
    (names.RESPONSE_ID, gen_ai.GEN_AI_RESPONSE_ID),
    (names.RESPONSE_MODEL, gen_ai.GEN_AI_RESPONSE_MODEL),
    (names.RESPONSE_FINISH_REASONS, gen_ai.GEN_AI_RESPONSE_FINISH_REASONS),
    (names.RESPONSE_TIME_TO_FIRST_CHUNK, gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK),
    (names.USAGE_INPUT_TOKENS, gen_ai.GEN_AI_USAGE_INPUT_TOKENS),
    (names.USAGE_OUTPUT_TOKENS, gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS),
    (names.USAGE_REASONING_OUTPUT_TOKENS, gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    (names.USAGE_CACHE_READ_INPUT_TOKENS, gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    (names.TOKEN_TYPE, gen_ai.GEN_AI_TOKEN_TYPE),
    (names.INPUT_MESSAGES, gen_ai.GEN_AI_INPUT_MESSAGES),
    (names.OUTPUT_MESSAGES, gen_ai.GEN_AI_OUTPUT_MESSAGES),
    (names.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, gen_ai.GEN_AI_OPENAI_RESPONSE_SYSTEM_FINGERPRINT),
    (names.SERVER_ADDRESS, server_attributes.SERVER_ADDRESS),
    (names.SERVER_PORT, server_attributes.SERVER_PORT),
    (names.ERROR_TYPE, error_attributes.ERROR_TYPE),
    (names.OPERATION_CHAT, gen_ai.GenAiOperationNameValues.CHAT.value),
    (names.TOKEN_INPUT, gen_ai.GenAiTokenTypeValues.INPUT.value),
    (names.TOKEN_OUTPUT, gen_ai.GenAiTokenTypeValues.OUTPUT.value),
    (names.OPERATION_DURATION, gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION),
    (names.TOKEN_USAGE, gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE),
    (names.TIME_TO_FIRST_CHUNK, gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK),
    (names.TIME_PER_OUTPUT_CHUNK, gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK),
]


@pytest.mark.parametrize(("ours", "conventions"), PINNED, ids=[p[1] for p in PINNED])
def test_names_are_the_conventions(ours: str, conventions: str) -> None:
    assert ours == conventions


def test_http_status_attribute_is_the_stable_one() -> None:
    from opentelemetry.semconv.attributes import http_attributes

    assert names.HTTP_RESPONSE_STATUS_CODE == http_attributes.HTTP_RESPONSE_STATUS_CODE


def test_every_provider_we_name_is_a_listed_value() -> None:
    listed = {v.value for v in gen_ai.GenAiProviderNameValues}
    hosts = ["us-central1-aiplatform.googleapis.com", "x.prediction.vertexai.goog",
             "generativelanguage.googleapis.com", "api.openai.com", "r.openai.azure.com",
             "a.services.ai.azure.com", "api.anthropic.com", "api.mistral.ai", "api.groq.com",
             "api.deepseek.com", "api.x.ai", "api.perplexity.ai", "api.cohere.com",
             "us-south.ml.cloud.ibm.com", "bedrock-runtime.us-east-1.amazonaws.com"]
    named = {provider_name(host) for host in hosts}
    # Moonshot joined the list after this conventions release; every other value must be listed.
    assert named - listed == set()
    assert len(named) == 14


def test_our_names_stay_in_our_namespace() -> None:
    ours = [names.ATTEMPTS, names.ATTEMPT_NUMBER, names.RETRY_CAUSE, names.RETRY_DELAY,
            names.RETRY_STOPPED, names.WAIT_KIND, names.COST_USD, names.STREAM_OUTCOME,
            names.REQUEST_ID, names.EVENT_ATTEMPT, names.COST, names.ATTEMPT_COUNT,
            names.RETRY_COUNT, names.RATE_LIMITED, names.WAIT_DURATION, names.CONCURRENCY_LIMIT,
            names.IN_FLIGHT, names.QUEUED, names.WAITING_FOR_RATE]
    assert all(name.startswith("aiovertexchat.") for name in ours)
