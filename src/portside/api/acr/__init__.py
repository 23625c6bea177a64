"""ACR's data-plane metadata API, `/acr/v1/...`."""
