"""What reads the read models and the log for people and tools: queries, the timeline, exports."""
