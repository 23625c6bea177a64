"""Geo-replication: locations, replications of a registry, the replication worker and status.

Not built yet (the geo-replication issue); this package is where it goes.
"""
