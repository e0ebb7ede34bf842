"""See your logs arrive: a local CloudWatch Logs emulator, an app under opentelemetry-instrument.

    python3 examples/demo.py

Needs only Python 3.9+: when its packages are missing it makes a virtual environment in
.venv-demo/ at the top of the checkout, installs the package (with moto's server and
opentelemetry-instrumentation) there, and runs itself again inside it. Then it starts moto's
server on a free loopback port, runs examples/auto_instrumentation/app.py under
opentelemetry-instrument with OTEL_LOGS_EXPORTER=cloudwatch_logs pointed at it, prints every
event read back from the emulator, and stops the emulator, whatever happens. No AWS account or
credentials are used.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-demo"
APP = ROOT / "examples" / "auto_instrumentation" / "app.py"
SERVICE = "demo-shop"


def ensure_packages() -> None:
    """Run inside a virtual environment that has what the demo needs."""
    try:
        import moto.server  # noqa: F401
        import opentelemetry.instrumentation  # noqa: F401

        import otel_cwlogs  # noqa: F401
    except ImportError:
        if Path(sys.prefix).resolve() == VENV.resolve():
            raise
        python = VENV / "bin" / "python"
        if not python.exists():
            print(f"Installing the demo's packages into {VENV} (once) ...", flush=True)
            venv.create(VENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[demo]"], check=True
        )
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def main() -> int:
    ensure_packages()
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "OTEL_EXPORTER_CLOUDWATCH_LOGS_"))
        }
        env.update(
            AWS_ACCESS_KEY_ID="demo",
            AWS_SECRET_ACCESS_KEY="demo",
            AWS_REGION="us-east-1",
            OTEL_SERVICE_NAME=SERVICE,
            OTEL_LOGS_EXPORTER="cloudwatch_logs",
            OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL=endpoint,
        )
        instrument = Path(sys.executable).parent / "opentelemetry-instrument"
        print(f"CloudWatch Logs emulator listening on {endpoint}")
        print(
            f"$ OTEL_SERVICE_NAME={SERVICE} OTEL_LOGS_EXPORTER=cloudwatch_logs "
            f"opentelemetry-instrument python {APP.relative_to(ROOT)}",
            flush=True,
        )
        subprocess.run([str(instrument), sys.executable, str(APP)], env=env, check=True)

        logs = boto3.client(
            "logs",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )
        group = f"/otel/{SERVICE}"
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
            name = stream["logStreamName"]
            events = logs.get_log_events(logGroupName=group, logStreamName=name)["events"]
            print(f"\nRead back from log group {group}, stream {name}: {len(events)} events")
            for event in events:
                doc = json.loads(event["message"])
                print(f"  {doc.get('severity_text', ''):5} {doc['body']}")
            if events:
                print("\nThe first event as stored:")
                print(json.dumps(json.loads(events[0]["message"]), indent=2))
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
