"""Content from other registries: server-side import, pull-through cache rules, credential sets.

Not built yet (the import and caching issue); this package is where it goes.
"""
