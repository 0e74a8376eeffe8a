"""Old module paths keep importing after the move into layer sub-packages.

`import aiovertexchat.retry` (or `from aiovertexchat.stream import ChatStream`) gives the very
module that now lives at `aiovertexchat._reliability.retry`: same objects, same classes, so
`isinstance` and `except` keep working. One table, one finder on `sys.meta_path`; nothing is
imported until an old path is asked for. New code imports from `aiovertexchat` itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MOVED_MODULES", "install"]

MOVED_MODULES: dict[str, str] = {
    "aiovertexchat.accumulate": "aiovertexchat._protocol.accumulate",
    "aiovertexchat.attempts": "aiovertexchat._http.attempts",
    "aiovertexchat.auth": "aiovertexchat._auth.sources",
    "aiovertexchat.concurrency": "aiovertexchat._reliability.concurrency",
    "aiovertexchat.endpoints": "aiovertexchat._http.endpoints",
    "aiovertexchat.extras": "aiovertexchat._protocol.google_options",
    "aiovertexchat.google_auth": "aiovertexchat._auth.google",
    "aiovertexchat.multimodal": "aiovertexchat._protocol.multimodal",
    "aiovertexchat.params": "aiovertexchat._protocol.params",
    "aiovertexchat.pricing": "aiovertexchat._protocol.pricing",
    "aiovertexchat.ratelimit": "aiovertexchat._reliability.ratelimit",
    "aiovertexchat.retry": "aiovertexchat._reliability.retry",
    "aiovertexchat.schema": "aiovertexchat._protocol.schema",
    "aiovertexchat.stats": "aiovertexchat._reliability.client_stats",
    "aiovertexchat.stream": "aiovertexchat._http.stream",
    "aiovertexchat.structured": "aiovertexchat._protocol.structured",
    "aiovertexchat.thoughts": "aiovertexchat._protocol.thoughts",
    "aiovertexchat.timeouts": "aiovertexchat._reliability.timeouts",
    "aiovertexchat.token_schedule": "aiovertexchat._auth.schedule",
    "aiovertexchat.tools": "aiovertexchat._protocol.tools",
    "aiovertexchat.transport": "aiovertexchat._http.transport",
    "aiovertexchat.bench.stats": "aiovertexchat.bench.sample_stats",
    "aiovertexchat.emulator.stats": "aiovertexchat.emulator.counters",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path with the module at its new path."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def __init__(self) -> None:
        self._own_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED_MODULES[spec.name])
        self._own_specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported under its new name. The import system has
        just stamped the alias's spec on it; give it back its own, or relative imports inside
        it would resolve against the old path (`__package__ != __spec__.parent`)."""
        module.__spec__ = self._own_specs.pop(module.__name__, module.__spec__)


_FINDER = _MovedModuleFinder()


def install() -> None:
    """Put the finder on `sys.meta_path` once (idempotent)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_FINDER)
