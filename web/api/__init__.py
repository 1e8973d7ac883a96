"""The HTTP/websocket API (FastAPI): app factory, routers per resource, auth and scope dependencies."""
