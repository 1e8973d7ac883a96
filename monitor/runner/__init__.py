"""The rules process: readings from the broker through the pure rule engine into alerts, plus clock ticks."""
