"""Change enablement service."""
