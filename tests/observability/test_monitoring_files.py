"""The shipped Prometheus rules and Grafana dashboard parse, and every metric they name is
one the API's `/metrics` serves (promtool is not installable here; this checks the same
names against the real endpoint); the table in docs/operations.md lists exactly what
`/metrics` serves."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client.parser import text_string_to_metric_families

from lms.config import get_settings
from tests.support import ROOT
from web.app import create_app

FOLDER = ROOT / "docs" / "monitoring"
METRIC = re.compile(r"\blms_[a-z_]+\b")
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


async def served_families() -> set[str]:
    app = create_app(get_settings())  # the API object, in this process
    async with app.quart.test_app() as test_app:
        response = await test_app.test_client().get("/metrics")
        text = (await response.get_data()).decode()
    return {family.name for family in text_string_to_metric_families(text)}


def with_suffixes(families: set[str]) -> set[str]:
    return {f"{name}{suffix}" for name in families for suffix in SUFFIXES}


async def test_rules_dashboard_and_the_operations_table_name_only_served_metrics():
    families = await served_families()
    served = with_suffixes(families)
    rules = yaml.safe_load((FOLDER / "lyceum-rules.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert all(rule.get("alert") and rule.get("labels", {}).get("severity")
               for group in rules["groups"] for rule in group["rules"])  # fmt: skip
    dashboard = json.loads((FOLDER / "lyceum-dashboard.json").read_text())
    expressions += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = {name for expr in expressions for name in METRIC.findall(expr)}
    assert named and named <= served
    table = [
        line.split("|")[1]
        for line in (ROOT / "docs" / "operations.md").read_text().splitlines()
        if line.startswith("| `lms_")
    ]
    listed = {name for cell in table for name in METRIC.findall(cell)}
    assert listed <= served  # nothing documented that is not served
    own = {f.removesuffix("_created") for f in families}  # a counter's creation time
    assert {f for f in own if not with_suffixes({f}) & listed} == set()  # all listed
