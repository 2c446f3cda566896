"""Imported by the forkserver under the `processes` layout, after every other preloaded module
(`worker_setup.preload_modules`): builds the settings, store engine and realtime model object of
one call there. Every call process forks with a copy-on-write copy of it and takes it as its own
(`worker_setup.prewarm`), so an idle call process holds only what it changes itself.

Safe to fork: nothing here has opened a connection or started a thread (the store connects and
the model dials on first use, in the call process)."""

from .worker_setup import prepare_call_for_forks

prepare_call_for_forks()
