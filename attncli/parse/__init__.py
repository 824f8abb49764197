"""Text, CSV, JSON and .npy into arrays, with errors that name the position."""
