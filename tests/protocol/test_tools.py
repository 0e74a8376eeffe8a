"""Tool declarations from typed Python functions and pydantic models."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal

import msgspec
import pydantic
import pytest

from aiovertexchat import UnsupportedSchemaError, function_tool, pydantic_function_tool


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@dataclasses.dataclass
class Place:
    city: str
    country: str = "FR"


class Booking(pydantic.BaseModel):
    """Book a table at a restaurant."""

    people: int = pydantic.Field(description="how many guests")
    place: Place | None = None


def get_weather(
    city: str,
    unit: Unit = Unit.CELSIUS,
    days: Annotated[int, msgspec.Meta(ge=1, le=7)] = 1,
    mode: Literal["brief", "full"] = "brief",
    where: Place | None = None,
    booking: Booking | None = None,
) -> str:
    """Get the weather forecast for a city.

    Longer text that is not part of the description.

    Args:
        city: The city, e.g. Paris.
            Continued on a second line.
        unit (Unit): Temperature unit.
        days: How many days ahead.

    Returns:
        The forecast.
    """
    return city


def test_function_tool_from_signature_and_docstring() -> None:
    tool = function_tool(get_weather)
    assert tool["type"] == "function"
    function = tool["function"]
    assert function["name"] == "get_weather"
    assert function["description"] == "Get the weather forecast for a city."
    params = function["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["city"]
    props = params["properties"]
    assert props["city"] == {
        "type": "string",
        "description": "The city, e.g. Paris. Continued on a second line.",
    }
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert props["unit"]["type"] == "string"
    assert props["unit"]["default"] == "celsius"
    assert props["days"] == {
        "type": "integer", "minimum": 1, "maximum": 7, "description": "How many days ahead.",
        "default": 1,
    }
    assert props["mode"]["enum"] == ["brief", "full"]
    where = props["where"]["anyOf"][0]
    assert where["properties"]["city"]["type"] == "string"
    assert where["required"] == ["city"]
    booking = props["booking"]["anyOf"][0]
    assert booking["properties"]["people"]["description"] == "how many guests"
    encoded = msgspec.json.encode(tool).decode()
    assert "$ref" not in encoded and "$defs" not in encoded
    assert "Returns" not in encoded


def test_sphinx_docstring_and_overrides() -> None:
    def lookup(key: str, limit: int = 10) -> list[str]:
        """:param key: what to look up
        :param limit: at most this many
        """
        return []

    tool = function_tool(lookup, name="find", description="Find things.")
    function = tool["function"]
    assert (function["name"], function["description"]) == ("find", "Find things.")
    assert function["parameters"]["properties"]["key"]["description"] == "what to look up"
    assert function["parameters"]["properties"]["limit"]["description"] == "at most this many"


def test_async_functions_and_no_parameters() -> None:
    async def ping() -> None:
        pass

    assert function_tool(ping)["function"] == {
        "name": "ping",
        "parameters": {"type": "object", "properties": {}},
    }


@pytest.mark.parametrize(
    ("func", "complaint"),
    [
        (lambda x: x, "no type hint"),
        (lambda *args: None, r"\*args"),
    ],
)
def test_undescribable_functions(func: Any, complaint: str) -> None:
    with pytest.raises(TypeError, match=complaint):
        function_tool(func)


class Opaque:
    pass


def test_unsupported_parameter_type() -> None:
    def use(thing: Opaque) -> None:
        pass

    with pytest.raises(UnsupportedSchemaError, match="parameter type"):
        function_tool(use)


def test_pydantic_function_tool() -> None:
    tool = pydantic_function_tool(Booking)
    function = tool["function"]
    assert function["name"] == "Booking"
    assert function["description"] == "Book a table at a restaurant."
    params = function["parameters"]
    assert params["required"] == ["people"]
    assert "title" not in params and "$defs" not in params
    assert params["properties"]["place"]["anyOf"][0]["properties"]["country"]["default"] == "FR"
    assert pydantic_function_tool(Booking, name="book")["function"]["name"] == "book"
    with pytest.raises(TypeError, match="pydantic model"):
        pydantic_function_tool(Place)


def test_recursive_model_tool_is_refused() -> None:
    class Node(pydantic.BaseModel):
        children: list[Node] = []

    Node.model_rebuild()
    with pytest.raises(UnsupportedSchemaError, match="recursive"):
        pydantic_function_tool(Node)
