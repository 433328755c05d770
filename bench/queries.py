"""The GraphQL documents the HTTP scenarios send, as an SPA would."""

from __future__ import annotations

#: The home grid: a page of 50 with the columns the SPA shows (13 fields, owner and tags).
GRID = """query HomeGrid($first: Int!) {
  sequences(first: $first) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id key name description status isPersonal createdAt modifiedAt
      stepCount activeConnections
      recordType { name }
      ownerUser { id name }
      tags { id name path }
    }
  }
}"""

#: The designer: one sequence with every step of its tree, and whether it can be activated.
DESIGNER = """query Designer($id: ID!) {
  sequence(id: $id) {
    id name status
    validation { canActivate problems { code message stepId } }
    steps {
      id key type category name description config branch depth
      parent { id } next { id } yes { id } no { id }
    }
  }
}"""

#: A seller's up next list: open activities by due time with their record and sequence.
UP_NEXT = """query UpNext($first: Int!) {
  upNext(first: $first) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id subject kind stepType status dueAt
      record { id name }
      sequence { id name }
    }
  }
}"""
