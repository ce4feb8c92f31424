"""The run directory: state, sample records and atomic writes that survive a kill."""
