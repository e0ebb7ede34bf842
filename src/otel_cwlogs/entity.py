"""The PutLogEvents ``entity``: which service (and where it runs) the events belong to.

CloudWatch uses it to relate logs to the service in Application Signals and Explore Related.
Built from the resource: ``service.name`` and ``deployment.environment(.name)`` as key
attributes, the platform (``cloud.platform``, Kubernetes, EC2 host) as attributes. A resource
without ``service.name`` has no entity. AWS limits: 2-4 key attributes, at most 10 attributes,
values of 1-512 characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_VALUE = 512
MAX_ATTRIBUTES = 10

_PLATFORMS = {
    "aws_eks": "AWS::EKS",
    "aws_ec2": "AWS::EC2",
    "aws_ecs": "AWS::ECS",
    "aws_lambda": "AWS::Lambda",
    "aws_elastic_beanstalk": "AWS::ElasticBeanstalk",
}
_KUBERNETES = {
    "k8s.namespace.name": "K8s.Namespace",
    "k8s.deployment.name": "K8s.Workload",
    "k8s.node.name": "K8s.Node",
    "k8s.pod.name": "K8s.Pod",
}


def _text(value: Any) -> str | None:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
        return str(value)[:MAX_VALUE]
    return None


def build_entity(attributes: Mapping[str, Any]) -> str | None:
    """The entity of a resource, as the JSON text to send; None without a service name."""
    service = _text(attributes.get("service.name"))
    if service is None or service.startswith("unknown_service"):
        return None
    environment = _text(
        attributes.get("deployment.environment.name") or attributes.get("deployment.environment")
    )
    key = {"Type": "Service", "Name": service, "Environment": environment or "generic:default"}
    platform = _PLATFORMS.get(str(attributes.get("cloud.platform", "")))
    cluster = _text(attributes.get("k8s.cluster.name"))
    extra: dict[str, str] = {}
    if platform is None:
        platform = "K8s" if cluster else "Generic"
    extra["PlatformType"] = platform
    if cluster:
        extra["EKS.Cluster" if platform == "AWS::EKS" else "K8s.Cluster"] = cluster
    for attribute, name in _KUBERNETES.items():
        value = _text(attributes.get(attribute))
        if value:
            extra[name] = value
    host_id = _text(attributes.get("host.id"))
    if host_id and platform in ("AWS::EC2", "AWS::EKS"):
        extra["EC2.InstanceId"] = host_id
    host = _text(attributes.get("host.name"))
    if host:
        extra["Host"] = host
    extra["AWS.ServiceNameSource"] = "UserConfiguration"
    extra = dict(list(extra.items())[:MAX_ATTRIBUTES])
    return json.dumps({"keyAttributes": key, "attributes": extra}, separators=(",", ":"))
