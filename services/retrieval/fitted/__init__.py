"""Numbers fitted on data, kept apart from the logic that reads them. See README.md (data card)."""
