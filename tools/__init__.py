"""Developer tools: build and run the guided notebooks."""
