"""Dispatcher errors (subclasses of the platform's EldercareError)."""

from __future__ import annotations

from devices.errors import EldercareError, ValidationFailed


class DispatcherError(EldercareError):
    code = "dispatcher_error"


class InvalidProblem(ValidationFailed):
    code = "invalid_problem"


class TravelTimeError(DispatcherError):
    code = "travel_time_unavailable"


class BenchmarkInputError(ValidationFailed):
    code = "invalid_benchmark_input"
