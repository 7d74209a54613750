"""Problem management service."""
