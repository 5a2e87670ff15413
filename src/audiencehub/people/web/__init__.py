"""The people service app: ID service, OAuth2 token endpoint and partner API routes."""
