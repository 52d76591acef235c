"""Demo data: believable people, usage and commits for a first look, written through the
same services as real data (`usage.ingest`, `github.store`).

May import: models, extensions, usage, github, providers.base.
"""
