"""Reliability layer: retry policy, timeouts, the adaptive concurrency gate, rate limits, counters.

Decisions and arithmetic only; the attempt loop in `_http.attempts` applies them.
"""
