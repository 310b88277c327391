"""Security measures: the egress guard (more arrive with the security issue)."""
