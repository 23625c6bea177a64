"""Registry content: blobs, uploads, manifests, tags, listings and ACR's content attributes."""
