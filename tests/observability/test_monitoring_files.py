"""The shipped Prometheus rules and Grafana dashboard parse, and every metric they name is
one the API's `/metrics` serves (promtool is not installable here; this checks the same
names against the real endpoint)."""

from __future__ import annotations

import json
import re

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ROOT, start_api

FOLDER = ROOT / "docs" / "monitoring"
METRIC = re.compile(r"\blms_[a-z_]+\b")
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def served_names() -> set[str]:
    api, base_url = start_api()
    try:
        text = httpx.get(f"{base_url}/metrics", timeout=60).text
    finally:
        api.stop()
    return {
        f"{f.name}{suffix}" for f in text_string_to_metric_families(text) for suffix in SUFFIXES
    }


def test_rules_and_dashboard_name_only_served_metrics():
    rules = yaml.safe_load((FOLDER / "lyceum-rules.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert all(rule.get("alert") and rule.get("labels", {}).get("severity")
               for group in rules["groups"] for rule in group["rules"])  # fmt: skip
    dashboard = json.loads((FOLDER / "lyceum-dashboard.json").read_text())
    expressions += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = {name for expr in expressions for name in METRIC.findall(expr)}
    assert named and named <= served_names()
