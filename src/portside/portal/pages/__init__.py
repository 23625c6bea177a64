"""The portal's pages, one module per resource: sign-in, registries, content, tokens."""
