"""Errors raised by the simulators: bad incident specs, bad replay input, impossible home set-ups."""

from devices.errors import ValidationFailed


class SimulatorError(ValidationFailed):
    """A simulation cannot be set up as asked."""

    code = "simulator_invalid"


class IncidentSpecError(SimulatorError):
    """An incident SPEC string is malformed, names an unknown kind or an impossible schedule."""

    code = "incident_spec_invalid"


class ReplayError(SimulatorError):
    """A replay source or its mapping file cannot be used."""

    code = "replay_invalid"
