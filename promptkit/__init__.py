"""promptkit: prompts releasable like code."""
