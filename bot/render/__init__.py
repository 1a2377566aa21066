"""Block Kit rendering: pure functions of the Analysis (and of the power plan)."""
