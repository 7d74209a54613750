"""The rules of notifications, pure: who hears of what (subscriptions, directory), how a delivery lives and is
retried (deliveries), what a message says (templates), how connected tools map to our records (connectors)."""
