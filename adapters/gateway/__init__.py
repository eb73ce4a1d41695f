"""The ingestion gateway: HTTP app, keys and grants, validation, dedup, Segment compatibility."""
