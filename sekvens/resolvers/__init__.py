"""Query, mutation and subscription resolvers, their DataLoaders and permission checks."""
