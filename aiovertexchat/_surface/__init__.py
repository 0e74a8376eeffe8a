"""The OpenAI SDK's call shapes around `Completions.create`: raw and streamed responses, the
typed-event `stream()` helper, the sync client's machinery. Thin wrappers: every request still
goes through `Completions.create`, so the hot path is the same whichever shape is used."""
