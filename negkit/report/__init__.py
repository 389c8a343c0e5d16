"""Run directories, metrics.json, report.md with plots, and comparison across runs. Reads run directories
only; it never imports the training engine."""
