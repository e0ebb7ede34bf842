from __future__ import annotations

import json
from typing import Any

import boto3

from otel_cwlogs import CloudWatchLogExporter
from otel_cwlogs._sdk import ExportResult
from otel_cwlogs.entity import build_entity

from .conftest import read_events
from .faultproxy import FaultProxy
from .limits import Recorder
from .records import sdk_items

EKS = {
    "service.name": "checkout",
    "deployment.environment.name": "prod",
    "cloud.platform": "aws_eks",
    "k8s.cluster.name": "main",
    "k8s.namespace.name": "shop",
    "k8s.deployment.name": "checkout",
    "k8s.node.name": "ip-10-0-0-1",
    "host.id": "i-0abc",
}


def test_entity_from_the_resource() -> None:
    entity = json.loads(build_entity(EKS) or "")
    assert entity["keyAttributes"] == {"Type": "Service", "Name": "checkout", "Environment": "prod"}
    assert entity["attributes"] == {
        "PlatformType": "AWS::EKS",
        "EKS.Cluster": "main",
        "K8s.Namespace": "shop",
        "K8s.Workload": "checkout",
        "K8s.Node": "ip-10-0-0-1",
        "EC2.InstanceId": "i-0abc",
        "AWS.ServiceNameSource": "UserConfiguration",
    }
    plain = json.loads(build_entity({"service.name": "api", "deployment.environment": "dev"}) or "")
    assert plain["keyAttributes"]["Environment"] == "dev"
    assert plain["attributes"]["PlatformType"] == "Generic"
    assert (
        json.loads(build_entity({"service.name": "x"}) or "")["keyAttributes"]["Environment"]
        == "generic:default"
    )
    assert build_entity({}) is None
    assert build_entity({"service.name": "unknown_service:python"}) is None
    long = json.loads(build_entity({"service.name": "s" * 900}) or "")
    assert len(long["keyAttributes"]["Name"]) == 512


def exporter_for(session: boto3.session.Session, url: str, group: str, **kw: Any) -> Any:
    return CloudWatchLogExporter(
        session=session, endpoint_url=url, log_group_name=group, log_stream_name="s", **kw
    )


def test_entity_is_sent_with_each_request(
    session: boto3.session.Session, moto_endpoint: str, group: str, recorder: Recorder
) -> None:
    exporter = exporter_for(session, moto_endpoint, group)
    assert exporter.export(sdk_items(["x"], EKS)) == ExportResult.SUCCESS
    entities = [r.get("entity") for r in recorder.requests]
    assert entities == [json.loads(build_entity(EKS) or "")] * len(entities)
    off = exporter_for(session, moto_endpoint, group + "-off", entity=False)
    assert off.export(sdk_items(["y"], EKS)) == ExportResult.SUCCESS
    assert "entity" not in recorder.requests[-1]


def test_a_rejected_entity_is_counted_and_costs_no_event(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    proxy.annotate("PutLogEvents", {"rejectedEntityInfo": {"errorType": "InvalidAttributes"}})
    exporter = exporter_for(session, proxy.url, group)
    assert exporter.export(sdk_items(["a", "b"], EKS)) == ExportResult.SUCCESS
    stats = exporter.stats()
    assert stats.entity_rejected == 1
    assert stats.delivered == 2
    assert stats.dropped == {}
    assert len(read_events(logs, group, "s")) == 2


def test_an_endpoint_that_refuses_the_field_gets_requests_without_it(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str, recorder: Recorder
) -> None:
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    proxy.error(
        "PutLogEvents", "SerializationException", message="Unrecognized field entity", when="entity"
    )
    exporter = exporter_for(session, proxy.url, group)
    assert exporter.export(sdk_items(["a"], EKS)) == ExportResult.SUCCESS
    assert exporter.export(sdk_items(["b"], EKS)) == ExportResult.SUCCESS
    assert ["entity" in r for r in recorder.requests] == [True, False, False]
    assert len(read_events(logs, group, "s")) == 2
