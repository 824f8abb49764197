"""rich renderables only: tables, heatmaps, captions. Never prints, never validates flags."""
