"""Renderers of an Analysis: the decision memo (Markdown, HTML, PDF), terminal text and charts."""
