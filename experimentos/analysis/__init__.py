"""ExperimentData → the frozen Analysis: health, metric results, looks and the decision rules."""
