"""The station registry: domain model, validation, storage, import/export and the CLI."""
