"""Command line: `aiovertexchat chat | demo | emulator | bench | batch`."""

from .main import main

__all__ = ["main"]
