"""HTTP layer: parse the request, call one service, render the response or the error."""
