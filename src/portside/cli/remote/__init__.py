"""Commands that talk to a running server over HTTP, as `az acr` does; no server internals."""
