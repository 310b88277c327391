"""A small package whose stubs are proven against its own tests and environment."""
