"""The database layer: engines (the only place that reads a database URL), migrations and
column types, below the registry, the results store and the call-log sink."""
