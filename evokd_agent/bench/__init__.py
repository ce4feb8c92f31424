"""`evokd bench`: methods x seeds x budgets as cells of runs, the table and the plot."""
