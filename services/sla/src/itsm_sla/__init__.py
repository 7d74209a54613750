"""Service level management service."""
