"""The HTTP service: public read API, OGC API - Features, uploads, maps and the rider page."""
