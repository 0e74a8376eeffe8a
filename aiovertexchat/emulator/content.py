"""Deterministic answers: a request in, a plan of what each choice says out. Sans-IO.

The emulator's tokenizer is "one word = one token": the prompt is counted in whitespace-separated
words, and the answer is a list of pieces, one per chunk (piece 0 is a word, later pieces are
" " + word), so usage counts exactly what is sent.

Words come from SHAKE-256 over a key made of the config seed, the request seed, a digest of the
messages and the choice index: stable across processes and Python versions (unlike `hash()` or
`random`), and one digest call yields a whole answer since the vocabulary has 256 words.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .gemini import is_signature_model, is_thinking_model, thought_signature
from .instances import schema_instance
from .request import ChatRequest, FunctionDef, Message

__all__ = [
    "VOCABULARY",
    "ChoicePlan",
    "CompletionPlan",
    "ToolCallPlan",
    "plan_completion",
    "prompt_tokens",
]

# Exactly 256 words, so one digest byte picks one word. A few carry multi-byte UTF-8 and JSON
# escapes so that byte-splitting faults and client decoders meet them in ordinary answers.
_WORDS = """
    the of and to in is was for on that with as by at from his her it an were are which this be
    or has had not but also they their its one after first two new more who been other time when
    into all only over three most some would can may such up out these about between under then
    both city year world state school later while than where through season since made part
    known being number four each same well like team people many early long five used high river
    film years second name area back age group north south east west around system small large
    public until before family local final good life house make found work light water stone
    cloud river-bank forest garden bridge tower market harbor valley island mountain desert
    meadow village castle library engine signal vector matrix token stream packet socket buffer
    kernel thread lambda async await future promise channel quantum photon neutron proton galaxy
    planet comet nebula orbit gravity energy motion copper silver golden crimson azure amber
    violet scarlet ivory onyx jade coral café naïve façade jalapeño Zürich señor crème
    smörgåsbord 東京 日本語 π λ Ω €uro "quoted" back\\slash tab-free semi;colon comma,s colon:
    brace{ bracket] slash/ 100% #tag swift brave calm eager fierce gentle humble jolly keen lively
    mighty noble proud quick quiet rapid silent steady bright dark warm cold soft sharp smooth
    rough heavy empty full open closed near far deep shallow narrow broad young ancient modern
    rare common simple complex honest clever patient loyal curious
"""
VOCABULARY: tuple[str, ...] = tuple(_WORDS.split())
if len(VOCABULARY) != 256 or len(set(VOCABULARY)) != 256:
    raise RuntimeError("the vocabulary must hold 256 distinct words")

_TOKENS_HOOK = re.compile(r"\[\[tokens=(\d+)\]\]")
# Keeps one request from asking the emulator for gigabytes; far above any model's output limit.
MAX_ANSWER_TOKENS = 1_000_000


@dataclass
class ToolCallPlan:
    """One tool call (or deprecated `function_call`) a choice makes."""

    id: str
    name: str
    arguments: str
    fragments: list[str]
    """`arguments` cut into the pieces an OpenAI-style stream sends."""
    extra_content: dict[str, Any] | None = None

    @property
    def tokens(self) -> int:
        return len(self.fragments) + 1


@dataclass
class ChoicePlan:
    """What one choice says. New kinds of output (tool calls, thoughts) become new fields here."""

    index: int
    pieces: list[str]
    finish_reason: str
    thought_pieces: list[str] = field(default_factory=list)
    """Thoughts sent as `thought: true` parts / deltas (tagged thoughts live in `pieces`)."""
    tool_calls: list[ToolCallPlan] = field(default_factory=list)
    function_call: ToolCallPlan | None = None
    logprobs: list[dict[str, Any]] | None = None
    """One entry per content piece when the request asked for logprobs."""
    content_null: bool = False
    """The message has no text (tool calls, a filtered answer)."""
    answer_tokens: int | None = None
    """Tokens of the answer when `pieces` also carry thoughts or markup (else one per piece)."""
    reasoning_tokens: int = 0

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def plain(self) -> bool:
        """Only text: the stream encoder's fast path applies."""
        return not (
            self.thought_pieces
            or self.tool_calls
            or self.function_call is not None
            or self.logprobs is not None
            or self.content_null
        )

    @property
    def completion_tokens(self) -> int:
        answer = len(self.pieces) if self.answer_tokens is None else self.answer_tokens
        calls = sum(call.tokens for call in self.tool_calls)
        if self.function_call is not None:
            calls += self.function_call.tokens
        return answer + self.reasoning_tokens + calls


@dataclass
class CompletionPlan:
    """Everything the writers need to answer one request."""

    model: str
    choices: list[ChoicePlan]
    prompt_tokens: int
    usage_requested: bool = False
    """The request asked for usage in the stream (`stream_options.include_usage`)."""
    gemini_tool_deltas: bool = False
    """Stream tool calls as Gemini does: one delta per call, no `index`, `id: ""`."""
    continuous_usage_requested: bool = False
    """`stream_options.continuous_usage_stats` (vLLM's running usage on every chunk)."""
    no_candidate: bool = False
    """The model gave no candidate at all (the `[[finish=empty]]` hook): usage, no choices."""

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)

    @property
    def reasoning_tokens(self) -> int:
        return sum(c.reasoning_tokens for c in self.choices)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def message_texts(message: Message) -> list[str]:
    """The text a message carries: string content or the `text` of its text parts."""
    content = message.content
    if isinstance(content, str):
        return [content]
    if content is None:
        return []
    return [
        part["text"]
        for part in content
        if part.get("type") == "text" and isinstance(part.get("text"), str)
    ]


def prompt_tokens(messages: list[Message]) -> int:
    return sum(len(text.split()) for m in messages for text in message_texts(m))


def _messages_digest(messages: list[Message]) -> bytes:
    h = hashlib.sha256()
    for m in messages:
        h.update(m.role.encode())
        for text in message_texts(m):
            h.update(b"\x1f")
            h.update(text.encode())
        h.update(b"\x1e")
    return h.digest()


def _tokens_hook(messages: list[Message]) -> int | None:
    for m in reversed(messages):
        if m.role == "user":
            for text in message_texts(m):
                found = _TOKENS_HOOK.search(text)
                if found:
                    return int(found.group(1))
            return None
    return None


def words(key: bytes, count: int) -> list[str]:
    """`count` vocabulary words for `key`; a longer answer extends a shorter one."""
    return [VOCABULARY[b] for b in hashlib.shake_256(key).digest(count)] if count else []


def _pieces(ws: list[str]) -> list[str]:
    return [w if i == 0 else " " + w for i, w in enumerate(ws)]


def cut_at_stop(pieces: list[str], stops: list[str]) -> list[str] | None:
    """Pieces before the first occurrence of any stop sequence, or None when none occurs.

    A stop may end inside a word: the last piece is then cut short, so the text is exactly the
    text before the stop, and empty pieces are dropped so no chunk is sent for nothing.
    """
    text = "".join(pieces)
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    if not hits:
        return None
    end = min(hits)
    kept: list[str] = []
    pos = 0
    for piece in pieces:
        if pos >= end:
            break
        kept.append(piece[: end - pos])
        pos += len(piece)
    return kept


def plan_completion(
    request: ChatRequest,
    *,
    seed: int,
    default_tokens: int,
    model: str,
    inline_thoughts: bool = False,
    gemini_tool_deltas: bool = False,
    signature_namespace: str = "google",
    shown_thoughts: str = "google",
) -> CompletionPlan:
    """Turn a request into what each choice answers.

    Length: a `[[tokens=N]]` hook in the last user message wins; else with a token limit the
    "model" talks until the limit (finish `length`), like a benchmark server ignoring EOS; else
    `default_tokens` with finish `stop`. The limit (and MAX_ANSWER_TOKENS) always caps, with
    finish `length`. Stop sequences apply last.

    Then the features (`_apply_features`): tool calls, JSON for `response_format`, thoughts,
    logprobs, and the `[[finish=content_filter]]` / `[[finish=empty]]` / `[[json=invalid]]`
    hooks. `shown_thoughts` says when thinking is sent: `google` (with `include_thoughts`, as
    Gemini), `always` (whenever the model thinks, as servers with a reasoning parser), `never`.
    """
    limit = request.token_limit
    hook = _tokens_hook(request.messages)
    if hook is not None:
        wanted = hook
    elif limit is not None:
        wanted = limit + 1  # past the limit: cut, finish_reason "length"
    else:
        wanted = default_tokens
    count = min(wanted, MAX_ANSWER_TOKENS if limit is None else min(limit, MAX_ANSWER_TOKENS))
    finish = "length" if count < wanted else "stop"

    stops = request.stop_sequences
    base = b"%d|%s|" % (seed, b"-" if request.seed is None else str(request.seed).encode())
    base += _messages_digest(request.messages)
    choices = []
    for index in range(request.choices):
        pieces = _pieces(words(base + b"|%d" % index, count))
        choice_finish = finish
        if stops:
            cut = cut_at_stop(pieces, stops)
            if cut is not None:
                pieces, choice_finish = cut, "stop"
        choices.append(ChoicePlan(index, pieces, choice_finish))

    _apply_features(
        request,
        choices,
        base,
        model=model,
        inline_thoughts=inline_thoughts,
        signature_namespace=signature_namespace,
        shown_thoughts=shown_thoughts,
    )
    options = request.stream_options
    include_usage = bool(options and options.include_usage)
    no_candidate = _hooks(request.messages).get("finish") == "empty"
    if no_candidate:
        for choice in choices:
            choice.pieces, choice.content_null, choice.finish_reason = [], True, "stop"
            choice.tool_calls, choice.function_call, choice.thought_pieces = [], None, []
            choice.logprobs, choice.answer_tokens = None, None
    return CompletionPlan(
        model=model,
        choices=choices,
        prompt_tokens=prompt_tokens(request.messages),
        usage_requested=include_usage,
        gemini_tool_deltas=gemini_tool_deltas,
        continuous_usage_requested=bool(
            include_usage and options and options.continuous_usage_stats
        ),
        no_candidate=no_candidate,
    )


# -- features -----------------------------------------------------------------------------------
# Everything below acts only when the request asks for it, so a plain request is planned (and
# streamed, by the encoder's fast path) exactly as before.

_HOOK = re.compile(r"\[\[(finish|json)=([\w-]+)\]\]")
_CALL_WORD = re.compile(r"\bcall\b", re.IGNORECASE)
_DEFAULT_THOUGHTS = 8
_MAX_THOUGHTS = 16
_EFFORT_THOUGHTS = {"none": 0, "minimal": 2, "low": 4, "medium": 8, "high": 16}
_LEVEL_THOUGHTS = {"minimal": 2, "low": 4, "medium": 8, "high": 16}


def _last_user_texts(messages: list[Message]) -> list[str]:
    for m in reversed(messages):
        if m.role == "user":
            return message_texts(m)
    return []


def _hooks(messages: list[Message]) -> dict[str, str]:
    found: dict[str, str] = {}
    for text in _last_user_texts(messages):
        for match in _HOOK.finditer(text):
            found[match.group(1)] = match.group(2)
    return found


def _named_choice(choice: object) -> str | None:
    """The function a `tool_choice` / `function_call` object forces, if any."""
    if not isinstance(choice, dict):
        return None
    inner = choice.get("function", choice)
    name = inner.get("name") if isinstance(inner, dict) else None
    return name if isinstance(name, str) else None


def _chosen_functions(request: ChatRequest) -> tuple[list[FunctionDef], bool]:
    """(functions to call, legacy `functions` API?); empty when the answer is text.

    Deterministic: a forced function, or the functions the last user message names, or (when
    it says "call" or `tool_choice` is "required") the first one. After a tool result the
    model answers in words unless a call is forced.
    """
    functions = [t.function for t in request.tools or [] if t.function is not None]
    legacy = False
    choice: object = request.tool_choice
    if not functions and request.functions:
        functions, legacy, choice = list(request.functions), True, request.function_call
    if not functions or choice == "none":
        return [], legacy
    forced = _named_choice(choice)
    if forced is not None:
        return [f for f in functions if f.name == forced][:1], legacy
    last = request.messages[-1]
    if last.role != "user" and choice != "required":
        return [], legacy
    text = " ".join(message_texts(last)) if last.role == "user" else ""
    named = [
        f for f in functions if re.search(rf"(?<!\w){re.escape(f.name)}(?!\w)", text)
    ]
    if named:
        single = legacy or request.parallel_tool_calls is False
        return (named[:1] if single else named), legacy
    if choice == "required" or _CALL_WORD.search(text):
        return functions[:1], legacy
    return [], legacy


def _fragments(text: str, key: bytes) -> list[str]:
    """`text` cut into pieces of 1 to 8 characters, at positions `key` picks."""
    sizes = hashlib.shake_256(key).digest(len(text) + 1)
    pieces = []
    pos = 0
    for size in sizes:
        if pos >= len(text):
            break
        step = 1 + size % 8
        pieces.append(text[pos : pos + step])
        pos += step
    return pieces


def _plan_calls(
    functions: list[FunctionDef], key: bytes, model: str, namespace: str
) -> list[ToolCallPlan]:
    calls = []
    for i, function in enumerate(functions):
        call_key = key + b"|call%d" % i
        schema = function.parameters or {"type": "object", "properties": {}}
        value = schema_instance(schema, call_key, VOCABULARY)
        arguments = msgspec.json.encode(value).decode()
        digest = hashlib.sha256(call_key).hexdigest()[:24]
        extra = None
        if i == 0 and is_signature_model(model):
            # Gemini 3 signs the first call of a step; it must come back next turn.
            signature = thought_signature(function.name, arguments)
            extra = {namespace: {"thought_signature": signature}}
        calls.append(
            ToolCallPlan(
                id=f"call_{digest}",
                name=function.name,
                arguments=arguments,
                fragments=_fragments(arguments, call_key),
                extra_content=extra,
            )
        )
    return calls


def _json_text(request: ChatRequest, key: bytes) -> str | None:
    fmt = request.response_format
    if fmt is None or fmt.type not in ("json_object", "json_schema"):
        return None
    if fmt.type == "json_schema" and fmt.json_schema is not None and fmt.json_schema.schema:
        value = schema_instance(fmt.json_schema.schema, key, VOCABULARY)
    else:
        value = {"answer": " ".join(words(key, 8))}
    return msgspec.json.encode(value).decode()


def _thought_count(request: ChatRequest, model: str, shown_thoughts: str) -> tuple[int, bool]:
    """(thinking tokens, are they shown?) for a request."""
    if not is_thinking_model(model):
        return 0, False
    google = request.google
    config = google.thinking_config if google is not None else None
    effort = request.reasoning_effort
    if config is None and effort is None:
        return 0, False
    count = _EFFORT_THOUGHTS.get(effort or "", _DEFAULT_THOUGHTS)
    if config is not None:
        count = _LEVEL_THOUGHTS.get(config.thinking_level or "", _DEFAULT_THOUGHTS)
        budget = config.thinking_budget
        if budget is not None and budget >= 0:
            count = min(budget, _MAX_THOUGHTS)
    if shown_thoughts == "always":
        return count, count > 0
    if shown_thoughts == "never":
        return count, False
    shown = bool(config is not None and config.include_thoughts) and count > 0
    return count, shown


def _tagged(thoughts: list[str], answer: list[str], marker: str) -> list[str]:
    """Thought pieces inside `<marker>…</marker>` followed by the answer, with each tag cut in
    two across chunks, so clients meet split tags in ordinary answers."""
    opening, closing = f"<{marker}>", f"</{marker}>"
    o1, o2 = opening[: len(opening) // 2], opening[len(opening) // 2 :]
    c1, c2 = closing[: len(closing) // 2], closing[len(closing) // 2 :]
    inner = list(thoughts)
    inner[0] = o2 + inner[0]
    inner[-1] = inner[-1] + c1
    tail = [c2 + (answer[0] if answer else ""), *answer[1:]]
    return [o1, *inner, *tail]


def _logprob_entries(pieces: list[str], key: bytes, top: int) -> list[dict[str, Any]]:
    raw = hashlib.shake_256(key).digest(len(pieces) * (top + 1))
    entries = []
    for i, piece in enumerate(pieces):
        row = raw[i * (top + 1) : (i + 1) * (top + 1)]
        logprob = -round(row[0] / 64, 4)
        alternatives = [
            {
                "token": VOCABULARY[b],
                "logprob": round(logprob - 0.5 - j, 4),
                "bytes": list(VOCABULARY[b].encode()),
            }
            for j, b in enumerate(row[1:])
        ]
        entries.append(
            {
                "token": piece,
                "logprob": logprob,
                "bytes": list(piece.encode()),
                "top_logprobs": alternatives,
            }
        )
    return entries


def _apply_features(
    request: ChatRequest,
    choices: list[ChoicePlan],
    base: bytes,
    *,
    model: str,
    inline_thoughts: bool,
    signature_namespace: str,
    shown_thoughts: str = "google",
) -> None:
    hooks = _hooks(request.messages)
    functions, legacy = _chosen_functions(request)
    thoughts, shown = _thought_count(request, model, shown_thoughts)
    google = request.google
    # Tags and inline thoughts are Gemini's; other servers send thinking in a field of its own.
    gemini = google is not None and shown_thoughts == "google"
    marker = google.thought_tag_marker if google is not None and gemini else None
    inline_thoughts = inline_thoughts and shown_thoughts == "google"
    limit = request.token_limit
    for choice in choices:
        key = base + b"|%d" % choice.index
        if hooks.get("finish") == "content_filter":
            choice.pieces, choice.finish_reason, choice.content_null = [], "content_filter", True
        elif functions:
            calls = _plan_calls(functions, key, model, signature_namespace)
            choice.pieces, choice.content_null = [], True
            if legacy:
                choice.function_call, choice.finish_reason = calls[0], "function_call"
            else:
                choice.tool_calls, choice.finish_reason = calls, "tool_calls"
        else:
            text = _json_text(request, key)
            if text is not None:
                if hooks.get("json") == "invalid":
                    text = text[:-1] + " (not JSON)"
                pieces = _fragments(text, key + b"|json")
                choice.finish_reason = "stop"
                if limit is not None and len(pieces) > limit:
                    pieces, choice.finish_reason = pieces[:limit], "length"
                choice.pieces = pieces
        if thoughts:
            choice.reasoning_tokens = thoughts
            if shown:
                thought_pieces = _pieces(words(key + b"|thought", thoughts))
                answer = choice.pieces
                if marker:
                    choice.answer_tokens = len(answer)
                    choice.pieces = _tagged(thought_pieces, answer, marker)
                    choice.content_null = False
                elif inline_thoughts:
                    choice.answer_tokens = len(answer)
                    if answer:
                        answer = ["\n\n" + answer[0].lstrip(), *answer[1:]]
                    choice.pieces = [*thought_pieces, *answer]
                    choice.content_null = False
                else:
                    choice.thought_pieces = thought_pieces
        if request.logprobs and choice.pieces:
            choice.logprobs = _logprob_entries(
                choice.pieces, key + b"|logprobs", request.top_logprobs or 0
            )
