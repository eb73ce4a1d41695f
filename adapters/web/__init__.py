"""The HTTP server and headers the gateway and the API share."""
