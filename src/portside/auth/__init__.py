"""Who may do what to which repository: scopes, grants, and the authorizer seam."""
