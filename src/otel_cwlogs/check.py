"""``otel-cwlogs check``: why are my logs not arriving?

Resolves the configuration exactly as the exporter and the processor do (the command's options,
the environment, the AWS configuration) and shows each setting in effect with where it comes
from: an option, a variable, a profile, or the default; secrets masked. Renders the log group
and stream names for the resource the SDK builds from ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``, checks ``OTEL_LOGS_EXPORTER`` and the spool directory, then does
each operation the exporter needs, once, in the log stream ``otel-cwlogs-check`` of that group
(made by the first run, reused by the next), and says what failed and what to do about it:

    otel-cwlogs check [--json] [--log-group-name ...] [--endpoint-url ...] ...
    python -m otel_cwlogs check

A variable with an invalid value, which an application reports in a warning and runs without,
is an error here; every invalid setting is named, and AWS is not called until they are fixed.

Exit status:
  0  every check passed (warnings, such as OTEL_LOGS_EXPORTER not set, allowed)
  1  AWS could not be reached, or refused an operation (credentials, permissions)
  2  a setting is invalid (each one is named), or the command line is
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import botocore.config
import botocore.exceptions
from opentelemetry.util._importlib_metadata import entry_points

from .autoconfig import FAST_HANDLER_VARIABLE, SWAP_VARIABLE
from .autoconfig import NAME as EXPORTER_NAME
from .client import error_code
from .config import (
    ARGUMENT,
    DEFAULT,
    ExporterConfig,
    ProcessorConfig,
    collecting_invalid_variables,
    env_name,
    ignoring_invalid_variables,
    to_bool,
)
from .credentials import (
    DEFAULT_SESSION_NAME,
    assumed_role_session,
    base_session,
    config_file,
    credential_source,
    profile_in_effect,
    region_source,
)
from .errors import ConfigError
from .exporter import CloudWatchLogExporter
from .routing import DEFAULT_GROUP_TEMPLATE, DEFAULT_STREAM_TEMPLATE, GROUP_NAMES_ATTRIBUTE
from .spool import SpoolUnusable, prepare

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_STATUS = "Exit status:" + (__doc__ or "").partition("Exit status:")[2]

CHECK_STREAM = "otel-cwlogs-check"
"""The log stream the check writes its test event to, in the log group of the resource."""

ARGUMENTS = ("log_group_name", "log_stream_name", "region_name", "endpoint_url")
"""Exporter settings the command also takes as options (the environment gives the rest)."""

AWS_SETTINGS = ("profile_name", "region_name", "endpoint_url", "verify")
"""Exporter settings shown in effect, as boto3 resolves them, in the ``aws`` section."""

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL")
_AWS_ENDPOINT = re.compile(r"https://logs[.-][^/]*\.(amazonaws\.com(\.cn)?|api\.aws)/?")

ACTIONS = {
    "assume_role": "sts:AssumeRole",
    "create_log_group": "logs:CreateLogGroup",
    "put_retention_policy": "logs:PutRetentionPolicy",
    "tag_resource": "logs:TagResource",
    "create_log_stream": "logs:CreateLogStream",
    "put_log_events": "logs:PutLogEvents",
    "get_log_events": "logs:GetLogEvents",
}

INVALID = "invalid setting"
"""The name of the step that reports one invalid setting."""

IGNORED = "an application warns about it and runs without it (its default applies)"


@dataclass
class Step:
    name: str
    status: str  # "ok", "failed", "warning", "skipped", "info"
    detail: str
    hint: str = ""


@dataclass(frozen=True)
class Setting:
    """A value in effect (text, a number, a boolean or tags) and where it comes from."""

    value: Any
    source: str


@dataclass
class Report:
    sections: dict[str, dict[str, Setting]] = field(default_factory=dict)
    not_set: dict[str, list[str]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str, hint: str = "") -> Step:
        step = Step(name, status, detail, hint)
        self.steps.append(step)
        return step

    def invalid(self, setting: str, value: object, reason: str, hint: str = "") -> None:
        detail = f"{setting}: {reason}" if value is None else f"{setting}={value!r}: {reason}"
        self.add(INVALID, "failed", detail, hint)

    @property
    def status(self) -> int:
        failed = [step for step in self.steps if step.status == "failed"]
        if any(step.name == INVALID for step in failed):
            return EXIT_INVALID
        return EXIT_FAILED if failed else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.status == EXIT_OK,
            "exit_status": self.status,
            "settings": {
                section: {name: asdict(setting) for name, setting in settings.items()}
                for section, settings in self.sections.items()
            },
            "not_set": self.not_set,
            "steps": [asdict(step) for step in self.steps],
        }


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


def option(keyword: str) -> str:
    return "--" + keyword.replace("_", "-")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-cwlogs check",
        description=(__doc__ or "").split("\n\n")[0],
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    for keyword in ARGUMENTS:
        parser.add_argument(
            option(keyword), dest=keyword, help=f"instead of {env_name(keyword)}", metavar="VALUE"
        )
    return parser


def plain(value: Any) -> Any:
    """A value as the report shows it: a whole float as an integer, tags as a copy."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def text_of(value: Any) -> str:
    """A value of the report as its text shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return ",".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def run(args: argparse.Namespace) -> Report:
    report = Report()
    explicit = {k: getattr(args, k) for k in ARGUMENTS}
    with collecting_invalid_variables() as refused:
        try:
            exporter = CloudWatchLogExporter(**explicit)
            processor = ignoring_invalid_variables(
                lambda environ: ProcessorConfig.resolve(cloudwatch=True, environ=environ)
            )
        except ConfigError as error:
            report_refused(report, refused)
            setting = option(error.setting) if explicit.get(error.setting) else error.setting
            report.invalid(setting, error.value, error.reason, "the exporter does not start")
            return report
        except botocore.exceptions.ProfileNotFound:
            report_refused(report, refused)
            variable = env_name("profile_name")
            named = os.environ.get(variable, "").strip()
            if variable in {error.setting for error in refused}:
                named = ""  # warned about and ignored: botocore's own variable gave the profile
            profile, source = profile_in_effect(named, variable)
            report.invalid(
                source,
                profile,
                "the AWS config and credentials files have no profile of this name",
                "the exporter does not start",
            )
            return report
    report_refused(report, refused)
    environ = {k: v for k, v in os.environ.items() if k not in {e.setting for e in refused}}

    config = exporter.config
    client = exporter.edge.client
    endpoint = client.meta.endpoint_url
    base = base_session(None, config.profile_name)
    sources = ExporterConfig.sources(environ, **explicit)

    def origin(keyword: str) -> str:
        source = sources[keyword]
        return option(keyword) if source == ARGUMENT else source

    report.sections["aws"] = aws_settings(config, origin, base, client)
    report.sections["exporter"], report.not_set["exporter"] = exporter_settings(config, origin)
    processor_sources = ProcessorConfig.sources(environ)
    report.sections["processor"], report.not_set["processor"] = processor_settings(
        processor, processor_sources
    )
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create()
    route = exporter._router.route(resource)
    report.sections["names"] = names(config, exporter, resource, route.group, route.stream)

    logs_exporter(report, os.environ.get("OTEL_LOGS_EXPORTER", ""))
    switches(report)
    if processor.spool_dir is not None:
        spool(report, processor.spool_dir, processor_sources["spool_dir"])
    if report.status == EXIT_INVALID:
        report.add("AWS", "skipped", "not called: fix the invalid settings first")
        return report

    session = base
    if config.role_arn is not None:
        if not assume_role(report, base, config, client.meta.region_name, endpoint):
            return report
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
        return report
    frozen = credentials.get_frozen_credentials()
    report.add(
        "credentials",
        "ok",
        f"from {credential_source(session)}: access key {mask(frozen.access_key)}, "
        f"session token {'present' if frozen.token else 'none'}",
    )
    caller(report, session, client.meta.region_name, config.endpoint_url)
    probe(report, client, config, route.group, endpoint)
    return report


def report_refused(report: Report, refused: Sequence[ConfigError]) -> None:
    """Each variable an application would leave out, once."""
    named: dict[str, ConfigError] = {}
    for error in refused:
        named.setdefault(error.setting, error)
    for error in named.values():
        report.invalid(error.setting, error.value, error.reason, IGNORED)


def aws_settings(
    config: ExporterConfig, origin: Callable[[str], str], base: Any, client: Any
) -> dict[str, Setting]:
    """The profile, region, endpoint and TLS verification in effect, as boto3 resolves them."""
    profile, profile_source = profile_in_effect(config.profile_name, origin("profile_name"))
    endpoint = client.meta.endpoint_url
    in_profile = f"profile '{base.profile_name}' in {config_file(base)}"
    if config.endpoint_url is not None:
        endpoint_source = origin("endpoint_url")
    else:
        endpoint_source = next(
            (
                v
                for v in ENDPOINT_VARIABLES
                if os.environ.get(v, "").rstrip("/") == endpoint.rstrip("/")
            ),
            DEFAULT if _AWS_ENDPOINT.fullmatch(endpoint) else in_profile,
        )
    if config.verify is not None:
        verify = Setting(config.verify, origin("verify"))
    else:
        bundle = base._session.get_config_variable("ca_bundle")
        if bundle:
            verify = Setting(
                bundle, "AWS_CA_BUNDLE" if os.environ.get("AWS_CA_BUNDLE") else in_profile
            )
        else:
            verify = Setting(True, DEFAULT)
    region_setting = origin("region_name") if config.region_name else None
    return {
        "profile": Setting(profile, profile_source),
        "region": Setting(client.meta.region_name, region_source(region_setting, base)),
        "endpoint": Setting(mask_url(endpoint), endpoint_source),
        "verify": verify,
    }


def exporter_settings(
    config: ExporterConfig, origin: Callable[[str], str]
) -> tuple[dict[str, Setting], list[str]]:
    """The exporter's settings in effect (the AWS ones aside), and those not set at all."""
    defaults = {
        "log_group_name": DEFAULT_GROUP_TEMPLATE,
        "log_stream_name": DEFAULT_STREAM_TEMPLATE,
    }
    if config.role_arn is not None:
        defaults["role_session_name"] = DEFAULT_SESSION_NAME
    settings: dict[str, Setting] = {}
    not_set = []
    for item in fields(config):
        name = item.name
        if name in AWS_SETTINGS:
            continue
        value = getattr(config, name)
        if name == "external_id":
            value = mask(value)
        if value is None or value == {}:
            if name not in defaults:
                not_set.append(name)
                continue
            value = defaults[name]
        settings[name] = Setting(plain(value), origin(name))
    return settings, not_set


def processor_settings(
    config: ProcessorConfig, sources: Mapping[str, str]
) -> tuple[dict[str, Setting], list[str]]:
    """The processor's settings in effect, and those not set at all."""
    settings: dict[str, Setting] = {}
    not_set = []
    for item in fields(config):
        value = getattr(config, item.name)
        if value is None:
            not_set.append(item.name)
        else:
            settings[item.name] = Setting(plain(value), sources[item.name])
    return settings, not_set


def names(
    config: ExporterConfig, exporter: CloudWatchLogExporter, resource: Any, group: str, stream: str
) -> dict[str, Setting]:
    """The log group and stream of this process's records, rendered for its resource; parts
    of a template filled per record are shown as ``<attributes.KEY>``, and ``group`` and
    ``stream`` (what the checks use) are those of a record without them."""
    router = exporter._router
    attributes = resource.attributes
    given = [
        item.partition("=")[0].strip()
        for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    ]
    if os.environ.get("OTEL_SERVICE_NAME", "").strip():
        service_source = "OTEL_SERVICE_NAME"
    elif "service.name" in given:
        service_source = "OTEL_RESOURCE_ATTRIBUTES"
    else:
        service_source = DEFAULT
    if config.log_group_name is None and GROUP_NAMES_ATTRIBUTE in attributes:
        group_source = f"resource attribute {GROUP_NAMES_ATTRIBUTE}"
    else:
        group_source = f"template {router.group.text}"
    stream_source = f"template {router.stream.text}, for this process"
    group_example, stream_example = router.examples(resource)
    per_record = "; the parts in <> are filled per record"
    if group_example != group:
        group_source += f"{per_record}; the checks below use {group}"
    if stream_example != stream:
        stream_source += per_record
    shown = {
        "service.name": Setting(str(attributes.get("service.name")), service_source),
        "log_group": Setting(group_example, group_source),
        "log_stream": Setting(stream_example, stream_source),
    }
    default = router.default(resource)
    if default is not None:
        shown["default_route"] = Setting(
            f"log group {default.group}, stream {default.stream}",
            "the settings' defaults, for a record whose names cannot be made",
        )
    return shown


def logs_exporter(report: Report, value: str) -> None:
    """Whether ``opentelemetry-instrument`` would set up this package's exporter."""
    selected = [name.strip() for name in value.split(",") if name.strip()]
    near = [
        name
        for name in selected
        if name != EXPORTER_NAME
        and difflib.get_close_matches(name.lower(), [EXPORTER_NAME], 1, 0.8)
    ]
    if near:
        report.invalid(
            "OTEL_LOGS_EXPORTER",
            value,
            f"no logs exporter is named {near[0]!r}; did you mean `{EXPORTER_NAME}`?",
            "opentelemetry-instrument then sets up no logs at all",
        )
        return
    installed = _installed_logs_exporters()
    alone = value.strip().lower() == "none"  # the SDK's "no exporter" (in a list, a name)
    missing = [] if alone else [name for name in selected if name not in installed]
    if missing:
        report.invalid(
            "OTEL_LOGS_EXPORTER",
            value,
            f"no logs exporter named {missing[0]!r} is installed",
            "opentelemetry-instrument then fails to configure OpenTelemetry (RuntimeError: "
            f"Requested component {missing[0]!r} not found)",
        )
        return
    if EXPORTER_NAME in selected:
        report.add(
            "OTEL_LOGS_EXPORTER",
            "ok",
            f"{value.strip()}: opentelemetry-instrument ships log records with this package",
        )
        return
    others = [name for name in selected if name.lower() != "none"]
    hint = (
        f"set OTEL_LOGS_EXPORTER={EXPORTER_NAME} for opentelemetry-instrument; a program that "
        "adds a CloudWatchLogRecordProcessor itself needs nothing"
    )
    if not others:
        detail = "not set" if not selected else f"{value.strip()!r}"
        report.add(
            "OTEL_LOGS_EXPORTER",
            "warning",
            f"{detail}: opentelemetry-instrument sets up no logs exporter",
            hint,
        )
        return
    report.add(
        "OTEL_LOGS_EXPORTER",
        "warning",
        f"{value.strip()!r}: under opentelemetry-instrument records go to "
        f"{', '.join(others)}, not to CloudWatch",
        f"add {EXPORTER_NAME} to it (OTEL_LOGS_EXPORTER={','.join([*others, EXPORTER_NAME])})",
    )


def _installed_logs_exporters() -> set[str]:
    """The names ``OTEL_LOGS_EXPORTER`` may hold here: the installed entry points, and
    ``otlp`` (which the SDK maps to one of them by the OTLP protocol)."""
    names = {entry.name for entry in entry_points(group="opentelemetry_logs_exporter")}
    return names | {"otlp"}


def switches(report: Report) -> None:
    """The package's true/false variables of ``opentelemetry-instrument``."""
    for variable in (SWAP_VARIABLE, FAST_HANDLER_VARIABLE):
        text = os.environ.get(variable, "").strip()
        try:
            if text:
                to_bool(text)
        except ValueError:
            report.invalid(variable, text, "expected true or false", IGNORED)


def spool(report: Report, directory: str, setting: str) -> None:
    """The spool directory, prepared as the processor prepares it."""
    try:
        path = prepare(directory)
    except SpoolUnusable as problem:
        report.invalid(
            setting,
            directory,
            f"cannot be used: {problem}",
            "the processor then keeps log records in memory only (no spool)",
        )
        return
    report.add("spool", "ok", f"{path} is ready")


def probe(report: Report, client: Any, config: ExporterConfig, group: str, endpoint: str) -> None:
    """Each call the exporter makes, once, in the group's stream ``otel-cwlogs-check``."""
    group_target = f"log group {group}"

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
        kwargs: dict[str, Any] = {"logGroupName": group}
        if config.log_group_class is not None:
            kwargs["logGroupClass"] = config.log_group_class
        if config.kms_key_id is not None:
            kwargs["kmsKeyId"] = config.kms_key_id
        if not attempt("create_log_group", group_target, **kwargs):
            return
    else:
        report.add(ACTIONS["create_log_group"], "skipped", "create_log_group is off")
    if config.retention_in_days is not None:
        attempt(
            "put_retention_policy",
            group_target,
            logGroupName=group,
            retentionInDays=config.retention_in_days,
        )
    if config.tags:
        arn = group_arn_of(client, group)
        if arn:
            attempt("tag_resource", arn, resourceArn=arn, tags=config.tags)
    stream = f"log stream {group}:{CHECK_STREAM}"
    if not attempt("create_log_stream", stream, logGroupName=group, logStreamName=CHECK_STREAM):
        return
    body = f"otel-cwlogs check {uuid.uuid4().hex}"
    message = json.dumps({"body": body, "severity_text": "INFO"})
    event = {"timestamp": int(time.time() * 1000), "message": message}
    if not attempt(
        "put_log_events",
        stream,
        logGroupName=group,
        logStreamName=CHECK_STREAM,
        logEvents=[event],
    ):
        return
    read_back(report, client, group, CHECK_STREAM, message)


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


SYMBOLS = {"ok": "✔", "failed": "✘", "warning": "!", "skipped": "-", "info": "·"}


def render(report: Report) -> str:
    lines = ["otel-cwlogs check"]
    for section, settings in report.sections.items():
        lines.append(f"{section}:")
        for name, setting in settings.items():
            source = "default" if setting.source == DEFAULT else f"from {setting.source}"
            lines.append(f"  {name}: {text_of(setting.value)} ({source})")
        if report.not_set.get(section):
            lines.append(f"  not set: {', '.join(report.not_set[section])}")
    for step in report.steps:
        lines.append(f"{SYMBOLS[step.status]} {step.name}: {step.detail}")
        if step.hint:
            lines.append(f"    → {step.hint}")
    warnings = sum(step.status == "warning" for step in report.steps)
    if report.status == EXIT_OK:
        lines.append("all checks passed" + (f", with {warnings} warning(s)" if warnings else ""))
    elif report.status == EXIT_INVALID:
        lines.append(f"some checks failed: invalid settings (exit status {EXIT_INVALID})")
    else:
        lines.append(f"some checks failed (exit status {EXIT_FAILED})")
    return "\n".join(lines)


USAGE = (
    "usage: otel-cwlogs check [--json] [--log-group-name NAME] [--log-stream-name NAME] "
    "[--region-name REGION] [--endpoint-url URL]\n" + EXIT_STATUS
)


def main(argv: Sequence[str] | None = None, out: Callable[[str], Any] = print) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "check":
        out(USAGE)
        return EXIT_INVALID
    options = parser().parse_args(args[1:])
    report = run(options)
    out(json.dumps(report.as_json(), default=str) if options.json else render(report))
    return report.status
