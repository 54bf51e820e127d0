"""Exporters: everything that turns the core's events into something outside the core.

Each exporter subscribes to the core's ``EventBus`` and reads only the core's public
event types and read-only snapshots; the core never imports this package.
"""
