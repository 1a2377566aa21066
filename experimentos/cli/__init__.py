"""The command line: ``experimentos analyze | power | history`` and the demo (``make demo``)."""
