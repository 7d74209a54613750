"""itsm-kit: the mechanics every ITSM service shares, written once."""
