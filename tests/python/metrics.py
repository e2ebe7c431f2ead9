"""Parses metrics text on stdin with prometheus_client's OpenMetrics parser; prints every sample
as JSON lines: {"name", "labels", "value"}. Fails on text the parser refuses."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({"name": sample.name, "labels": sample.labels, "value": sample.value}))
