"""`Headers`: response headers looked up without regard to case, as HTTP header names are."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["Headers"]


class Headers(Mapping[str, str]):
    """A read-only mapping of response headers; `headers["content-type"]` finds
    "Content-Type". Iterates the names as the server sent them."""

    __slots__ = ("_items", "_lower")

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = dict(headers)
        self._lower = {name.lower(): value for name, value in self._items.items()}

    def __getitem__(self, name: str) -> str:
        return self._lower[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
