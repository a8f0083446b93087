"""The read models: each turns batches of recorded events into its reporting tables."""
