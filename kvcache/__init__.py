"""KV cache planning for the engine, and (in ``kvcache.hf``) compressed transformers caches for benchmarks.

- ``kvcache.budget``: KV bytes per token and the horizon a memory budget allows (light: no torch import,
  so ``mnemos doctor`` can use it).
- ``kvcache.triattention``: configuration of vLLM's decoding-time eviction plugin.
- ``kvcache.hf``: budgeted transformers caches (full, sink_window, snapkv, rkv, kivi8, kivi4); imported
  only by benchmarks and tests.
"""
