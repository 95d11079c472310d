"""The pages of `promptkit view`, one module per subject, each with its `routes`."""
