"""Imported once by the forkserver under the `processes` layout (`worker_setup.preload_modules`):
the lazily built wire and tool models are completed there, before any call process forks, so
every call process shares them instead of building its own."""

from .worker_setup import warm_wire_models

warm_wire_models()
