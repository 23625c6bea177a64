"""The OCI Distribution API, `/v2/...`."""
