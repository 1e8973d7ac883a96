"""The private local stack: PostgreSQL + TimescaleDB and Mosquitto under one directory, on loopback."""

from web.stack.stack import StackError, StackInfo, down, status, up

__all__ = ["StackError", "StackInfo", "down", "status", "up"]
