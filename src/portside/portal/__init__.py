"""The web portal served at `/portal/` by `portside serve`: pages over the services the APIs use.

Not built yet (the portal issue); this package is where it goes, beside `api/`.
"""
