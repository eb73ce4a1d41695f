"""The master record's stores (SQLite, PostgreSQL), its relay and webhook, identity settings."""
