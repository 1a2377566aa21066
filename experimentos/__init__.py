"""ExperimentOS."""
