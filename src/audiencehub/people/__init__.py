"""The people service (the audience-manager side): data sources, the ID graph, traits,
segments, inbound ingest, outbound publication, destinations and partner clients.

``web`` serves it over HTTP (the visitor ID service, the OAuth2 token endpoint and
the partner API) and is the only part that imports FastAPI. It never imports
campaign: the two meet through files and HTTP, as two deployments would.
"""
