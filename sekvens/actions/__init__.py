"""The rules of every area but sequence design (that is `authoring/`), as business operations.

Each function takes the session of the caller's transaction, the actor and parsed input
(ids as integers, no GraphQL), applies the product's rules, raises `DomainError` on refusal
and writes the audit entry; the caller commits. Resolvers, import and the CLI call them.
"""
