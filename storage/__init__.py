"""Database engines and local key material for the embedded and production settings."""
