"""Where the exporter's AWS credentials and region come from.

- A named profile (``profile_name``) of the shared config and credentials files, read by
  boto3 itself: its region, its ``role_arn``/``source_profile`` chain, SSO.
- An assumed role (``role_arn``, with ``role_session_name`` and ``external_id``): STS
  AssumeRole on top of the default credential chain (or the profile), through botocore's
  ``AssumeRoleCredentialFetcher`` and ``DeferredRefreshableCredentials``, which fetch on first
  use and refresh before expiry for the life of the process. The STS client is the base
  session's, so ``AWS_ENDPOINT_URL_STS`` and the regional STS endpoints are honoured as
  botocore honours them. A failure names the role, the caller and the cause.
- The region: an argument or variable, ``AWS_REGION``, the profile or ``AWS_DEFAULT_REGION``,
  and on EC2, where nothing sets one, the instance metadata service (IMDSv2, a one-second
  timeout, botocore's fetcher, ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` honoured).
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import botocore.credentials
import botocore.exceptions
import botocore.session
import botocore.utils

DEFAULT_SESSION_NAME = "otel-cwlogs"


def _describe_caller(base: boto3.session.Session) -> str:
    """The identity the base credentials belong to, for an error message."""
    try:
        identity = base.client("sts").get_caller_identity()
        return str(identity.get("Arn", "an unknown caller"))
    except Exception:
        credentials = base.get_credentials()
        if credentials is None:
            return "a caller with no credentials"
        return f"the caller with access key {credentials.access_key[:4]}…"


class _AssumedRole(botocore.credentials.CredentialProvider):
    """Serves credentials of an assumed role to a botocore session."""

    METHOD = "assume-role"
    CANONICAL_NAME = "otel-cwlogs-assume-role"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def assumed_role_session(
    base: boto3.session.Session,
    role_arn: str,
    role_session_name: str | None,
    external_id: str | None,
) -> boto3.session.Session:
    """A session whose credentials are ``role_arn``'s, assumed with ``base``'s, refreshed
    by botocore before they expire."""
    extra: dict[str, str] = {"RoleSessionName": role_session_name or DEFAULT_SESSION_NAME}
    if external_id:
        extra["ExternalId"] = external_id
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,
        source_credentials=base.get_credentials(),
        role_arn=role_arn,
        extra_args=extra,
    )

    def fetch() -> Any:
        try:
            return fetcher.fetch_credentials()
        except Exception as exc:
            raise botocore.exceptions.CredentialRetrievalError(
                provider=f"assume role {role_arn}",
                error_msg=f"as {_describe_caller(base)}: {exc}",
            ) from None

    credentials = botocore.credentials.DeferredRefreshableCredentials(
        refresh_using=fetch, method="assume-role"
    )
    core = botocore.session.Session(profile=base.profile_name if _has_profile(base) else None)
    core.get_component("credential_provider").insert_before("env", _AssumedRole(credentials))
    return boto3.session.Session(botocore_session=core, region_name=base.region_name)


def _has_profile(session: boto3.session.Session) -> bool:
    return session.profile_name in session.available_profiles


def base_session(
    session: boto3.session.Session | None, profile_name: str | None
) -> boto3.session.Session:
    """The user's session, else one of the named profile, else the default one."""
    if session is not None:
        return session
    return boto3.session.Session(profile_name=profile_name)


def region_from_instance_metadata(session: boto3.session.Session) -> str | None:
    """The instance's region from IMDSv2, or None (not on EC2, disabled, or too slow)."""
    core = session._session
    config = {
        "ec2_metadata_service_endpoint": core.get_config_variable("ec2_metadata_service_endpoint"),
        "ec2_metadata_service_endpoint_mode": botocore.utils.resolve_imds_endpoint_mode(core),
    }
    fetcher = botocore.utils.InstanceMetadataRegionFetcher(
        timeout=1, num_attempts=1, env=os.environ, config=config
    )
    try:
        region = fetcher.retrieve_region()
    except Exception:
        return None
    return str(region) if region else None


PROFILE_VARIABLES = ("AWS_DEFAULT_PROFILE", "AWS_PROFILE")
"""The variables botocore takes the profile from, the first set first."""


def profile_in_effect(profile_name: str | None, setting: str) -> tuple[str, str]:
    """The profile a session of :func:`base_session` uses, and where it comes from:
    ``setting`` when ``profile_name`` is given, else botocore's variable, else ``default``."""
    if profile_name:
        return profile_name, setting
    for variable in PROFILE_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable], variable
    return "default", "default"


def config_file(session: boto3.session.Session) -> str:
    """The AWS config file botocore reads for ``session`` (``AWS_CONFIG_FILE`` or its default)."""
    return str(session._session.get_config_variable("config_file"))


def region_source(region_setting: str | None, session: boto3.session.Session) -> str:
    """Which one gave the region of a client that :func:`~otel_cwlogs.client.make_client`
    makes for ``session``: ``region_setting`` (the setting, when the region was given), else
    ``AWS_DEFAULT_REGION`` or the profile (botocore's order), ``AWS_REGION``, or the instance
    metadata."""
    if region_setting:
        return region_setting
    if session.region_name:
        if "AWS_DEFAULT_REGION" in os.environ:
            return "AWS_DEFAULT_REGION"
        return f"profile '{session.profile_name}' in {config_file(session)}"
    if os.environ.get("AWS_REGION"):
        return "AWS_REGION"
    return "instance metadata"


def credential_source(session: boto3.session.Session) -> str:
    """Where the session's credentials come from, in a few words (no secret), with botocore's
    name of the method that found them."""
    credentials = session.get_credentials()
    if credentials is None:
        return "none found"
    method = str(getattr(credentials, "method", "") or "unknown")
    return {
        "env": "environment variables",
        "shared-credentials-file": "the shared credentials file",
        "config-file": "the shared config file",
        "assume-role": "an assumed role",
        "iam-role": "the instance metadata service",
        "container-role": "the container credentials endpoint",
        "sso": "AWS IAM Identity Center (SSO)",
    }.get(method, "botocore's provider") + f" (method {method})"
