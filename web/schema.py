"""The executable schema: SDL from `schemas/*.graphql`, resolvers from `web/resolvers/`."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

from ariadne import load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema, print_schema

import web.resolvers
from web import field_resolvers
from web.scalars import bigint_scalar, datetime_scalar, json_scalar

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def _bindables() -> list:
    found = [datetime_scalar, json_scalar, bigint_scalar]
    for module_info in sorted(pkgutil.iter_modules(web.resolvers.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"web.resolvers.{module_info.name}")
        found.extend(getattr(module, "bindables", []))
    return found


@functools.lru_cache(maxsize=1)
def build_schema() -> GraphQLSchema:
    type_defs = load_schema_from_path(str(SCHEMA_DIR))
    # camelCase in the schema, snake_case in Python (fields, arguments and inputs).
    schema = make_executable_schema(type_defs, *_bindables(), convert_names_case=True)
    field_resolvers.install(schema)
    return schema


def printed_schema() -> str:
    return print_schema(build_schema()) + "\n"
