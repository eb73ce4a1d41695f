"""The synthetic world: generated customers and each department's story about them."""
