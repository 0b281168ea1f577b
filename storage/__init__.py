"""Database engines, evidence stores (local disk or S3 with object lock) and local key material."""
