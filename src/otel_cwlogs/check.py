"""``otel-cwlogs check``: why are my logs not arriving?

Resolves the configuration exactly as the exporter does (environment and arguments), shows it
with secrets masked, then does each operation the exporter needs, once, and says what failed
and what to do about it:

    otel-cwlogs check [--json] [--log-group-name ...] [--endpoint-url ...] ...
    python -m otel_cwlogs check

Exit status: 0 when everything needed works, 1 when a check failed, 2 when the configuration
itself is invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import botocore.config
import botocore.exceptions

from .client import error_code
from .config import ExporterConfig, ProcessorConfig
from .credentials import (
    DEFAULT_SESSION_NAME,
    assumed_role_session,
    base_session,
    credential_source,
    region_source,
)
from .errors import ConfigError
from .exporter import CloudWatchLogExporter

ARGUMENTS = ("log_group_name", "log_stream_name", "region_name", "endpoint_url")
"""Exporter settings the command also takes as options (the environment gives the rest)."""

ACTIONS = {
    "assume_role": "sts:AssumeRole",
    "create_log_group": "logs:CreateLogGroup",
    "put_retention_policy": "logs:PutRetentionPolicy",
    "tag_resource": "logs:TagResource",
    "create_log_stream": "logs:CreateLogStream",
    "put_log_events": "logs:PutLogEvents",
    "get_log_events": "logs:GetLogEvents",
}


@dataclass
class Step:
    name: str
    status: str  # "ok", "failed", "skipped", "info"
    detail: str
    hint: str = ""


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    configuration: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, status: str, detail: str, hint: str = "") -> Step:
        step = Step(name, status, detail, hint)
        self.steps.append(step)
        return step

    @property
    def ok(self) -> bool:
        return all(step.status != "failed" for step in self.steps)


def mask_url(url: str | None) -> str | None:
    """A URL without the password it may carry."""
    if not url or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://…@{rest.rsplit('@', 1)[1]}"


def mask(secret: str | None) -> str | None:
    if not secret:
        return None
    return secret[:4] + "…" + secret[-4:] if len(secret) > 8 else "…"


def explain(exc: BaseException, action: str, target: str, endpoint: str) -> str:
    """What to do about a failed call, specifically."""
    code = error_code(exc)
    if code in ("AccessDeniedException", "AccessDenied"):
        if action == "sts:AssumeRole":
            return (
                f"the credentials may not assume {target}: allow sts:AssumeRole on it in "
                "their policy, and name them in the role's trust policy (and the external id, "
                "if the role requires one)"
            )
        return f"the credentials lack the IAM action {action} on {target}: allow it in their policy"
    if code in ("UnrecognizedClientException", "InvalidSignatureException"):
        return "the AWS access key id or secret key is not valid"
    if code == "ExpiredTokenException":
        return "the session token has expired: refresh the credentials"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET, or use a role"
        )
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError,)):
        return f"the endpoint {endpoint} is unreachable: check the URL, the network and proxies"
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError):
        return f"connecting to {endpoint} timed out: check the network and proxies"
    if code == "ResourceNotFoundException":
        return "the log group does not exist and create_log_group is off: create it first"
    return f"{code}: {exc}"


def run(argv: Sequence[str] | None = None) -> tuple[Report, int]:
    parser = argparse.ArgumentParser(prog="otel-cwlogs check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    for keyword in ARGUMENTS:
        parser.add_argument("--" + keyword.replace("_", "-"), dest=keyword)
    args = parser.parse_args(argv)
    report = Report()
    explicit = {k: getattr(args, k) for k in ARGUMENTS}
    try:
        # strictly: an application warns about an invalid variable and uses the default
        ExporterConfig.resolve(os.environ, **explicit)
        ProcessorConfig.resolve(cloudwatch=True)
        exporter = CloudWatchLogExporter(**explicit)
    except ConfigError as exc:
        report.add("configuration", "failed", str(exc), "fix the setting named above")
        return report, 2
    config = exporter.config
    configuration = asdict(config)
    configuration["endpoint_url"] = mask_url(config.endpoint_url)
    client = exporter._edge.client
    endpoint = client.meta.endpoint_url
    configuration.update(
        resolved_region=client.meta.region_name, resolved_endpoint=mask_url(endpoint)
    )
    report.configuration = configuration
    report.add("configuration", "ok", f"region {client.meta.region_name}, endpoint {endpoint}")

    base = base_session(None, config.profile_name)
    report.add(
        "region",
        "info",
        f"{client.meta.region_name}, from {region_source(config.region_name, base)}",
    )
    session = base
    if config.role_arn is not None:
        if not assume_role(report, base, config, client.meta.region_name, endpoint):
            return report, 1
        session = assumed_role_session(
            base, config.role_arn, config.role_session_name, config.external_id
        )
    credentials = session.get_credentials()
    if credentials is None:
        report.add(
            "credentials",
            "failed",
            "none found",
            explain(botocore.exceptions.NoCredentialsError(), "", "", endpoint),
        )
        return report, 1
    frozen = credentials.get_frozen_credentials()
    report.add(
        "credentials",
        "ok",
        f"from {credential_source(session)}: access key {mask(frozen.access_key)}, "
        f"session token {'present' if frozen.token else 'none'}",
    )
    caller(report, session, client.meta.region_name, config.endpoint_url)

    from opentelemetry.sdk.resources import Resource

    route = exporter._router.route(Resource.create())
    report.add("names", "info", f"log group {route.group}, log stream {route.stream}")
    group_arn = f"log group {route.group}"

    def attempt(method: str, target: str, **params: Any) -> bool:
        try:
            getattr(client, method)(**params)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ResourceAlreadyExistsException":
                report.add(ACTIONS[method], "ok", f"{target} exists")
                return True
            report.add(
                ACTIONS[method],
                "failed",
                error_code(exc),
                explain(exc, ACTIONS[method], target, endpoint),
            )
            return False
        except botocore.exceptions.BotoCoreError as exc:
            report.add(
                ACTIONS[method],
                "failed",
                type(exc).__name__,
                explain(exc, ACTIONS[method], target, endpoint),
            )
            return False
        report.add(ACTIONS[method], "ok", target)
        return True

    if config.create_log_group:
        kwargs: dict[str, Any] = {"logGroupName": route.group}
        if config.log_group_class is not None:
            kwargs["logGroupClass"] = config.log_group_class
        if config.kms_key_id is not None:
            kwargs["kmsKeyId"] = config.kms_key_id
        if not attempt("create_log_group", group_arn, **kwargs):
            return report, 1
    else:
        report.add(ACTIONS["create_log_group"], "skipped", "create_log_group is off")
    if config.retention_in_days is not None:
        attempt(
            "put_retention_policy",
            group_arn,
            logGroupName=route.group,
            retentionInDays=config.retention_in_days,
        )
    if config.tags:
        arn = group_arn_of(client, route.group)
        if arn:
            attempt("tag_resource", arn, resourceArn=arn, tags=config.tags)
    stream = f"log stream {route.group}:{route.stream}"
    if not attempt(
        "create_log_stream", stream, logGroupName=route.group, logStreamName=route.stream
    ):
        return report, 1
    message = json.dumps({"body": f"otel-cwlogs check {time.time():.0f}", "severity_text": "INFO"})
    event = {"timestamp": int(time.time() * 1000), "message": message}
    if not attempt(
        "put_log_events",
        stream,
        logGroupName=route.group,
        logStreamName=route.stream,
        logEvents=[event],
    ):
        return report, 1
    read_back(report, client, route.group, route.stream, message)
    return report, 0 if report.ok else 1


def assume_role(report: Report, base: Any, config: Any, region: str, endpoint: str) -> bool:
    """Check ``sts:AssumeRole`` on the configured role with the base credentials."""
    params = {
        "RoleArn": config.role_arn,
        "RoleSessionName": config.role_session_name or DEFAULT_SESSION_NAME,
    }
    if config.external_id:
        params["ExternalId"] = config.external_id
    target = f"role {config.role_arn}"
    try:
        sts = base.client(
            "sts",
            region_name=region,
            config=botocore.config.Config(
                connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1}
            ),
        )
        sts.assume_role(**params)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        report.add(
            ACTIONS["assume_role"],
            "failed",
            error_code(exc),
            explain(exc, ACTIONS["assume_role"], target, endpoint),
        )
        return False
    report.add(ACTIONS["assume_role"], "ok", target)
    return True


def caller(report: Report, session: Any, region: str, endpoint_url: str | None) -> None:
    """Who the credentials are, when STS answers (the same endpoint, for an emulator)."""
    try:
        sts = session.client(
            "sts",
            region_name=region,
            endpoint_url=endpoint_url,
            config=botocore.config.Config(
                connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1}
            ),
        )
        identity = sts.get_caller_identity()
    except Exception as exc:
        report.add("caller identity", "skipped", f"STS not reachable ({type(exc).__name__})")
        return
    report.add("caller identity", "info", str(identity.get("Arn")))


def group_arn_of(client: Any, group: str) -> str | None:
    for item in client.describe_log_groups(logGroupNamePrefix=group).get("logGroups", []):
        if item.get("logGroupName") == group:
            arn = item.get("logGroupArn") or str(item.get("arn", "")).removesuffix(":*")
            return str(arn) or None
    return None


def read_back(report: Report, client: Any, group: str, stream: str, message: str) -> None:
    try:
        events = client.get_log_events(
            logGroupName=group, logStreamName=stream, startFromHead=False, limit=20
        )["events"]
    except botocore.exceptions.ClientError as exc:
        report.add(
            ACTIONS["get_log_events"],
            "skipped",
            f"not allowed ({error_code(exc)}); "
            "the test event was accepted, but cannot be read back",
        )
        return
    found = any(e.get("message") == message for e in events)
    report.add(
        "read back",
        "ok" if found else "info",
        "the test event is in the stream" if found else "not visible yet (ingestion delay)",
    )


SYMBOLS = {"ok": "✔", "failed": "✘", "skipped": "-", "info": "·"}


def render(report: Report) -> str:
    lines = ["otel-cwlogs check"]
    for key, value in report.configuration.items():
        lines.append(f"  {key}: {value}")
    for step in report.steps:
        lines.append(f"{SYMBOLS[step.status]} {step.name}: {step.detail}")
        if step.hint:
            lines.append(f"    → {step.hint}")
    lines.append("all checks passed" if report.ok else "some checks failed")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: Callable[[str], Any] = print) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "check":
        out(
            "usage: otel-cwlogs check [--json] [--log-group-name NAME] [--log-stream-name NAME] "
            "[--region-name REGION] [--endpoint-url URL]"
        )
        return 2
    report, status = run(args[1:])
    if "--json" in args:
        out(
            json.dumps(
                {
                    "ok": status == 0,
                    "configuration": report.configuration,
                    "steps": [asdict(s) for s in report.steps],
                },
                default=str,
            )
        )
    else:
        out(render(report))
    return status
