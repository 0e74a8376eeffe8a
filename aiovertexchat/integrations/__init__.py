"""Running requests on the engines people already operate, one module per engine.

- `aiovertexchat.integrations.beam` (extra `[beam]`): `ChatCompletions`, a PTransform, and
  `ChatCompletionsHandler`, a ModelHandler for RunInference; on Dataflow or any Beam runner.
- `aiovertexchat.integrations.ray` (extra `[ray]`): `ChatCompletions` for
  `Dataset.map_batches`, and `run_batch`, the resumable file job on a Ray cluster.

Share one rate limit among all workers with `aiovertexchat.RedisRateLimit` (extra `[redis]`).
Nothing here is imported by the core package; importing this package imports no engine.
"""
