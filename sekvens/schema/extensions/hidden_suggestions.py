"""Production: no "Did you mean …?" hints in errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

# graphql-core's hints: "Did you mean 'a', 'b', or 'c'?", "… the enum value 'A'?", also
# mid-message ("… unknown field 'serch'. Did you mean 'search'? Found: …"). Names hold no '?'.
SUGGESTION_RE = re.compile(r"\s*Did you mean [^?]*\?")


def _hide_suggestions(result: Any) -> None:
    for error in getattr(result, "errors", None) or ():
        error.message = SUGGESTION_RE.sub("", error.message)


class HideSuggestions(SchemaExtension):
    """Production: no "Did you mean …?" hints that reveal field, argument, type, enum value
    or input field names: in validation and variable errors, over HTTP and the websocket."""

    def on_operation(self) -> Iterator[None]:
        yield
        _hide_suggestions(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Websocket results go out before `on_operation` ends."""
        _hide_suggestions(result)
        yield
