"""The gateway: one front door that composes the domain services."""
