"""Events: webhooks with ACR's payloads, delivered from a transactional outbox, and the audit log.

Not built yet (the events issue); this package is where it goes, between `api/` and `metadata/`.
"""
