"""What an operator sees of a worker: Prometheus metrics and machine-readable logs.

The definitions live here; the voice layer records them. The shop's rules (`domain`), the store
and the escalation mechanisms never import this package (checked by import-linter).
"""
