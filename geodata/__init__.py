"""Pure geography: coordinate systems, districts, distances, hours, coverage and maps."""
