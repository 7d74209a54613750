"""Incident management service."""
