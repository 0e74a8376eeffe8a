"""`NOT_GIVEN` and `omit`: the OpenAI SDK's "leave this out" sentinels, accepted wherever None is.

Code written for the OpenAI SDK passes `NOT_GIVEN` (or `omit`) to mean "use the default" — often
built generically, e.g. `temperature=t if t is not None else NOT_GIVEN`. We accept our own
sentinels and the OpenAI SDK's (recognised by class name, so the `openai` package is never
imported): each is treated exactly as None is.
"""

from __future__ import annotations

from typing import Final, Literal, TypeVar

__all__ = ["NOT_GIVEN", "NotGiven", "Omit", "given", "is_omitted", "not_given", "omit"]

_T = TypeVar("_T")

# The OpenAI SDK's sentinel classes have these names; both are falsy, like ours.
_SENTINEL_NAMES: Final = frozenset({"NotGiven", "Omit"})


class NotGiven:
    """The type of `NOT_GIVEN`: a keyword argument left at its default (falsy; same as None)."""

    __slots__ = ()

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


class Omit:
    """The type of `omit`: leave this parameter out of the request (falsy; same as None)."""

    __slots__ = ()

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "omit"


NOT_GIVEN: Final = NotGiven()
not_given: Final = NOT_GIVEN
omit: Final = Omit()


def is_omitted(value: object) -> bool:
    """True for None, our sentinels and the OpenAI SDK's (`openai.NOT_GIVEN`, `openai.omit`)."""
    return value is None or (not value and type(value).__name__ in _SENTINEL_NAMES)


def given(value: _T | NotGiven | Omit) -> _T | None:
    """`value`, or None when it is a "not given" sentinel (ours or the OpenAI SDK's)."""
    if value is None or (not value and type(value).__name__ in _SENTINEL_NAMES):
        return None
    return value  # type: ignore[return-value]  # a falsy non-sentinel is a real value
