"""Read models derived from the event log."""
