"""Portside: a self-hosted container registry speaking the OCI Distribution API."""

__version__ = "0.1.0"
