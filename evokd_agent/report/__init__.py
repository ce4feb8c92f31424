"""The run report: F1 against tokens, the plot and the summary, read from a run dir."""
