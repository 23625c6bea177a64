"""Geo-replication: replications of a registry, their status, and the worker that copies
blobs into a node's location (docs/geo-replication.md)."""
