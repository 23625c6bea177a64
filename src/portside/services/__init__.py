"""Domain services: what the registry does, independent of HTTP and SQL."""
