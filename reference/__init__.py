"""Reference implementations for the similarity-learning homework: losses, metrics, data, models."""
