"""Sans-IO protocol layer: SSE framing, decoding, accumulation, thought splitting, request bodies.

Nothing here does I/O on a socket, imports asyncio or aiohttp, or reads a clock of its own
(a test in tests/test_layers.py checks it). Bugs hide in this code, so it is tested without
sockets or sleeps.
"""
