"""Root fields of the base schema."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ariadne import QueryType

query = QueryType()

try:
    API_VERSION = version("lyceum")
except PackageNotFoundError:  # running from a source tree
    API_VERSION = "0.0.0"


@query.field("apiVersion")
def resolve_api_version(*_args) -> str:
    return API_VERSION


bindables = [query]
