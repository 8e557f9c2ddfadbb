"""Database schema, pgSphere types, engines and migrations."""
