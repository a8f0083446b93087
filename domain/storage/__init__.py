"""Where the event log lives and how it is read: one object per database, recorders, readers."""
