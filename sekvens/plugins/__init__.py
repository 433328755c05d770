"""Step-type plugins: the contract (api), the registry and the built-in step types."""
