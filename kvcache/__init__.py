"""Compressed KV caches and the budget planner.

- ``kvcache.budget``: KV bytes per token and the horizon a memory budget allows (light: no torch import,
  so ``mnemos doctor`` can use it).
- ``kvcache.policies.make_cache``: a budgeted transformers cache for one generation
  (full, sink_window, snapkv, rkv, kivi8, kivi4).
- ``kvcache.base`` / ``kvcache.eviction`` / ``kvcache.quantized``: the shared base and one layer class per policy.
"""
