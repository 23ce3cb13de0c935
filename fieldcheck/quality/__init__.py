"""Quality checks on visit results: flags with measured value and threshold."""
