"""modelshrink: shrink scientific neural networks and measure the cost."""
