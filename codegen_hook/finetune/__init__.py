"""Fine-tuning the local model on the user's own repository.

`dataset` builds the training pairs (stub → function) from the repository's index,
split by file, deduplicated, secrets redacted, sealed at rest.
"""
