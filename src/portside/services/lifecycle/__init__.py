"""Lifecycle: garbage collection, retention, purge, the recycle bin, quotas and usage."""
