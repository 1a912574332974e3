"""The ARM cloud metadata document (`GET /metadata/endpoints`)."""
