"""ExperimentOS in Slack: the Bolt app, its listeners, Block Kit rendering and file handling."""
