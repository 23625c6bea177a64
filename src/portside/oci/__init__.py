"""Pure OCI value types: digests, repository names, media types, manifests. No I/O."""
