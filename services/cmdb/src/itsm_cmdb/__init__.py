"""Configuration management (CMDB) service."""
