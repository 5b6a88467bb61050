"""Budgeted transformers caches (full, sink_window, snapkv, rkv, kivi8, kivi4) for benchmarks and tests only.

Nothing in ``agent`` imports this package: the running agent uses vLLM, whose KV space
the planner in :mod:`kvcache.budget` sizes. ``kvcache.hf.policies.make_cache`` builds one
cache for one generation; ``base`` / ``eviction`` / ``quantized`` hold the shared base and
one layer class per policy.
"""
