import json
from pathlib import Path

import msgspec
import pytest

from aiovertexchat._protocol.pricing import PriceTable, UnknownModelPriceError, billable_tokens
from aiovertexchat.types import Usage


def usage(**fields: object) -> Usage:
    return msgspec.convert(fields, Usage)


def test_default_table_flash_cost() -> None:
    table = PriceTable.default()
    cost = table.cost("google/gemini-2.5-flash",
                      usage(prompt_tokens=1_000_000, completion_tokens=1_000_000,
                            total_tokens=2_000_000))
    assert cost.input_usd == pytest.approx(0.30)
    assert cost.output_usd == pytest.approx(2.50)
    assert cost.total_usd == pytest.approx(2.80)


def test_cached_tokens_are_part_of_prompt() -> None:
    u = usage(prompt_tokens=1000, completion_tokens=0, total_tokens=1000,
              prompt_tokens_details={"cached_tokens": 400})
    cost = PriceTable.default().cost("gemini-2.5-flash", u)
    assert cost.input_usd == pytest.approx(600 * 0.30 / 1e6)
    assert cost.cached_input_usd == pytest.approx(400 * 0.03 / 1e6)


def test_reasoning_reported_apart_is_added_to_output() -> None:
    apart = usage(prompt_tokens=10, completion_tokens=100, total_tokens=160,
                  completion_tokens_details={"reasoning_tokens": 50})
    inside = usage(prompt_tokens=10, completion_tokens=100, total_tokens=110,
                   completion_tokens_details={"reasoning_tokens": 50})
    assert billable_tokens(apart).output == 150
    assert billable_tokens(inside).output == 100
    cost = PriceTable.default().cost("gemini-2.5-flash", apart)
    assert cost.reasoning_usd == pytest.approx(50 * 2.5 / 1e6)


def test_long_context_prices_whole_request() -> None:
    u = usage(prompt_tokens=300_000, completion_tokens=1000, total_tokens=301_000)
    cost = PriceTable.default().cost("google/gemini-2.5-pro", u)
    assert cost.input_usd == pytest.approx(300_000 * 2.50 / 1e6)
    assert cost.output_usd == pytest.approx(1000 * 15.0 / 1e6)


def test_batch_discount_and_version_suffix() -> None:
    u = usage(prompt_tokens=1_000_000, completion_tokens=0, total_tokens=1_000_000)
    cost = PriceTable.default().cost("google/gemini-2.0-flash-001", u, batch=True)
    assert cost.input_usd == pytest.approx(0.075)


def test_unknown_model_names_the_fix() -> None:
    with pytest.raises(UnknownModelPriceError, match="price file"):
        PriceTable.default().cost("meta/llama-3", usage())


def test_override_file(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"models": {"my-model": {"input": 1, "output": 2}}}))
    table = PriceTable.from_file(path)
    cost = table.cost("my-model", usage(prompt_tokens=10**6, completion_tokens=10**6))
    assert cost.total_usd == pytest.approx(3.0)
    path.write_text(json.dumps({"models": {"m": {"inputs": 1, "output": 2}}}))
    with pytest.raises(ValueError, match="unknown price fields"):
        PriceTable.from_file(path)
