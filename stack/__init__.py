"""The operator's tools that drive the whole stack: launcher, CLI, evaluation, benchmarks.

This package stands above the services and may import any of them; nothing under `trolyao/`
(the shared kernel) or `services/` imports it.
"""
