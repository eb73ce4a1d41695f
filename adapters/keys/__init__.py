"""The key store: per-subject data keys for crypto-shredding, wrapped with a key-encryption key."""
