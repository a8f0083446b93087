"""The touchlog command line: thin click commands over the application and the projections."""
