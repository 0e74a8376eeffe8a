"""What the emulator answers (deterministic words, limits, stop sequences): sans-IO."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat.emulator.content import (
    MAX_ANSWER_TOKENS,
    VOCABULARY,
    cut_at_stop,
    plan_completion,
    words,
)
from aiovertexchat.emulator.request import ChatRequest, Message
from tests.helpers import (
    chat_request,
)


class TestContent:
    def test_default_answer(self) -> None:
        plan = plan_completion(chat_request(), seed=0, default_tokens=32, model="m")
        (choice,) = plan.choices
        assert len(choice.pieces) == 32
        assert choice.finish_reason == "stop"
        assert choice.text.split(" ") == [p.strip() for p in choice.pieces]
        assert all(p.startswith(" ") for p in choice.pieces[1:])
        assert all(w in VOCABULARY for w in choice.text.split(" "))
        assert (plan.prompt_tokens, plan.completion_tokens, plan.total_tokens) == (2, 32, 34)

    def test_same_request_same_answer_and_seeds_change_it(self) -> None:
        def text(request: ChatRequest, seed: int = 0) -> str:
            return plan_completion(request, seed=seed, default_tokens=16, model="m").choices[0].text

        assert text(chat_request()) == text(chat_request())
        assert text(chat_request()) != text(chat_request(seed=1))
        assert text(chat_request()) != text(chat_request(), seed=1)
        assert text(chat_request()) != text(chat_request("hello there!"))

    def test_choices_are_seeded_apart(self) -> None:
        plan = plan_completion(chat_request(n=3), seed=0, default_tokens=16, model="m")
        assert [c.index for c in plan.choices] == [0, 1, 2]
        assert len({c.text for c in plan.choices}) == 3
        assert plan.completion_tokens == 48

    def test_limits_and_hook(self) -> None:
        def shape(request: ChatRequest) -> tuple[int, str]:
            (c,) = plan_completion(request, seed=0, default_tokens=32, model="m").choices
            return len(c.pieces), c.finish_reason

        assert shape(chat_request(max_tokens=5)) == (5, "length")
        assert shape(chat_request(max_completion_tokens=4)) == (4, "length")
        assert shape(chat_request(max_tokens=9, max_completion_tokens=6)) == (6, "length")
        assert shape(chat_request("go [[tokens=3]]")) == (3, "stop")
        assert shape(chat_request("go [[tokens=0]]")) == (0, "stop")
        assert shape(chat_request("go [[tokens=300]]", max_tokens=300)) == (300, "stop")
        assert shape(chat_request("go [[tokens=300]]", max_tokens=10)) == (10, "length")
        # Only the last user message carries the hook.
        request = ChatRequest(
            messages=[
                Message("user", "[[tokens=2]]"),
                Message("assistant", "ok"),
                Message("user", "again"),
            ]
        )
        assert shape(request) == (32, "stop")

    def test_answers_are_capped(self) -> None:
        request = chat_request(f"[[tokens={MAX_ANSWER_TOKENS + 1}]]")
        (choice,) = plan_completion(request, seed=0, default_tokens=1, model="m").choices
        assert (len(choice.pieces), choice.finish_reason) == (MAX_ANSWER_TOKENS, "length")

    def test_prompt_tokens_count_text_parts_only(self) -> None:
        request = ChatRequest(
            messages=[
                Message("system", "be brief"),
                Message(
                    "user",
                    [
                        {"type": "text", "text": "what is  this\nthing"},
                        {"type": "image_url", "image_url": {"url": "gs://b/cat.png"}},
                    ],
                ),
                Message("assistant", None),
            ]
        )
        assert plan_completion(request, seed=0, default_tokens=1, model="m").prompt_tokens == 6

    def test_stop_truncates_before_first_occurrence(self) -> None:
        full = plan_completion(chat_request(), seed=0, default_tokens=32, model="m").choices[0].text
        stop_word = full.split(" ")[10]
        (choice,) = plan_completion(
            chat_request(stop=["zzz-never", stop_word]), seed=0, default_tokens=32, model="m"
        ).choices
        assert choice.text == full[: full.index(stop_word)]
        assert choice.finish_reason == "stop"

    @given(
        st.lists(st.sampled_from(VOCABULARY), max_size=30),
        st.lists(st.text(min_size=1, max_size=6), max_size=3),
    )
    def test_cut_at_stop_property(self, ws: list[str], stops: list[str]) -> None:
        pieces = [w if i == 0 else " " + w for i, w in enumerate(ws)]
        text = "".join(pieces)
        cut = cut_at_stop(pieces, stops)
        hits = [text.find(s) for s in stops if s in text]
        if not hits:
            assert cut is None
            return
        assert cut is not None
        assert "".join(cut) == text[: min(hits)]
        assert all(cut)  # no empty chunk is ever planned
        assert len(cut) <= len(pieces)

    def test_words_extend(self) -> None:
        assert words(b"k", 50)[:20] == words(b"k", 20)
        assert words(b"k", 0) == []
