"""Core engine of printernizer_usage: models, privacy guard, store, recorder, aggregation."""
