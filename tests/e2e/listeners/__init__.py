"""Event listener scripts and helpers for the listener e2e tests."""
