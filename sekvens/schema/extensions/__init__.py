"""Strawberry schema extensions, one module each; `sekvens/graphql_schema.py` lists them in the
order they run. `refusals.py` holds what they share: answering with a coded error."""
