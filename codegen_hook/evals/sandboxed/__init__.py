"""Programs that run INSIDE the sandbox (shipped to it as job files, never imported
by the hook itself): they run a repository's tests against code under test."""
