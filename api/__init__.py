"""Edges of the service: the command line (and, later, HTTP) over one request schema."""
