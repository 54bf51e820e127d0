"""Shared fixtures for all test tiers."""
