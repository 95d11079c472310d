"""The database reads of `promptkit view` that the registry and evals APIs do not offer."""
