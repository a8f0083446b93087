"""What applies the read models: the reporting database, its schema, the runner, its processes."""
