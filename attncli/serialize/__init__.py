"""Strict JSON documents and text exports (Markdown, LaTeX, CSV)."""
