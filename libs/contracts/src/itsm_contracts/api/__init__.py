"""HTTP models shared by a service and the gateway that exposes it (one definition each)."""
