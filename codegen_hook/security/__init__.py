"""What keeps the user's code on the machine and secret: the egress guard (`egress`,
`tls`), encryption at rest (`crypto`, `keys`, `keyring`, `keysource`, `reseal`,
`codec`, `memfd`), secret redaction before prompts and logs (`redact`), the
hash-chained audit log (`audit`), and private folders (`perms`)."""
