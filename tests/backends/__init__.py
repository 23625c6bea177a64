"""Throwaway backend servers for tests (PostgreSQL, SeaweedFS, Azurite): each starts on free
loopback ports in a temporary folder and is stopped by its own process id."""
