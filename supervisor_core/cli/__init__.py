"""Command-line entry points: the only place that wires process-wide globals."""
