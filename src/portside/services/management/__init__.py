"""Management: registries, identities, tokens, scope maps and roles, for the management API."""
