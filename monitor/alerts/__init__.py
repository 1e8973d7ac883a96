"""Alerts: the lifecycle (open -> acknowledged -> assigned -> resolved), escalation and notifications."""
