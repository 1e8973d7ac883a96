"""Users, passwords (argon2), sessions with short-lived tokens and refresh, login throttling."""
