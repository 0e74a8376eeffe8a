"""HTTP layer: the connection pool, one exchange, the attempt loop and the stream iterator.

The only place on the client side that imports aiohttp (checked by tests/test_layers.py).
"""
