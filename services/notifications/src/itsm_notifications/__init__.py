"""Notifications: people and groups, subscriptions, durable deliveries, connectors to PagerDuty and Jira."""
