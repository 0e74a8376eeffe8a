"""A local server speaking Vertex AI's OpenAI-compatible Chat Completions wire format.

Deterministic answers, honest usage, and injectable faults, for tests, demos and benchmarks::

    async with Emulator(EmulatorConfig(itl=0.01)) as emu:
        client = openai.AsyncOpenAI(base_url=emu.base_url, api_key="test")

Modules: `config` (settings), `request` (body checks), `content` (what the answer says),
`instances` (JSON values for a schema), `gemini` (thinking models, thought signatures),
`wire` (bytes of chunks and bodies), `faults` (fault grammar and choice), `errors` (error
bodies), `capacity` (429 model), `writer` (body writing under faults), `oauth` (the OAuth2
token endpoint google-auth talks to), `server` (aiohttp.web).
"""

from .config import EmulatorConfig, UsageInStream
from .counters import EmulatorStats
from .errors import google_error
from .faults import FAULT_HEADER, FAULT_ONCE_HEADER, Fault
from .server import Emulator, EmulatorState, build_app, serve

__all__ = [
    "FAULT_HEADER",
    "FAULT_ONCE_HEADER",
    "Emulator",
    "EmulatorConfig",
    "EmulatorState",
    "EmulatorStats",
    "Fault",
    "UsageInStream",
    "build_app",
    "google_error",
    "serve",
]
