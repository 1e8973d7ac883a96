"""The one-command demo: a seeded neighbourhood and every platform process on a private local stack."""
