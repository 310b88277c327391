"""codegen-hook: fill Python stubs with a local model, proven in a sandbox."""

__version__ = "0.1.0"
