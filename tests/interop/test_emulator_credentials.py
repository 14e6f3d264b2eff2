"""STS credentials from the emulator, handed to the official `alibabacloud_credentials` library
through its environment provider, an aliyun CLI `config.json` profile in `StsToken` mode and its
credentials-URI provider; the Tea SDK then uses what the library yields against the emulator.

Each check runs in a fresh Python process, because the library reads HOME and the environment
when it is imported."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading

from alibabacloud_sts20150401 import models as sts_models

from emulator_fixtures import ACCOUNT_A, ACCOUNT_B, _no_faults, emulator  # noqa: F401
from emulator_fixtures import make_role, make_user

SCRIPT = textwrap.dedent("""
    import json, sys
    from alibabacloud_credentials.client import Client as Credentials
    from alibabacloud_tea_openapi.models import Config
    from alibabacloud_sts20150401.client import Client
    credential = Credentials()
    model = credential.get_credential()
    config = Config(credential=credential, endpoint=sys.argv[1], protocol="http", region_id="cn-hangzhou")
    identity = Client(config).get_caller_identity().body
    print(json.dumps({"provider": model.provider_name, "key": model.access_key_id,
                      "arn": identity.arn, "type": identity.identity_type}))
""")


def _credentials(emulator, session_name):
    role_arn = make_role(emulator, ACCOUNT_A)
    _, key_id, secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    body = emulator.sts(key_id, secret).assume_role(sts_models.AssumeRoleRequest(
        role_arn=role_arn, role_session_name=session_name, duration_seconds=3600)).body
    return role_arn, body.credentials


def _run(emulator, tmp_path, extra_env):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ALIBABA_CLOUD_", "ALIBABACLOUD_", "ALICLOUD_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update({"HOME": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", **extra_env})
    result = subprocess.run([sys.executable, "-c", SCRIPT, emulator.endpoint], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _expect_role_session(output, role_arn, creds, session_name):
    role_name = role_arn.rsplit("/", 1)[1]
    assert output["key"] == creds.access_key_id
    assert output["type"] == "AssumedRoleUser"
    assert output["arn"] == f"acs:ram::{ACCOUNT_A}:assumed-role/{role_name}/{session_name}"


def test_environment_provider(emulator, tmp_path):
    role_arn, creds = _credentials(emulator, "env-session")
    output = _run(emulator, tmp_path, {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": creds.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds.access_key_secret,
        "ALIBABA_CLOUD_SECURITY_TOKEN": creds.security_token,
    })
    assert output["provider"] == "default/env"
    _expect_role_session(output, role_arn, creds, "env-session")


def test_cli_config_json_in_sts_token_mode(emulator, tmp_path):
    role_arn, creds = _credentials(emulator, "cli-session")
    (tmp_path / ".aliyun").mkdir()
    (tmp_path / ".aliyun" / "config.json").write_text(json.dumps({
        "current": "rabbitmq",
        "profiles": [{"name": "rabbitmq", "mode": "StsToken",
                      "access_key_id": creds.access_key_id,
                      "access_key_secret": creds.access_key_secret,
                      "sts_token": creds.security_token,
                      "region_id": "cn-hangzhou", "output_format": "json", "language": "en"}],
    }))
    output = _run(emulator, tmp_path, {})
    assert "cli_profile" in output["provider"]
    _expect_role_session(output, role_arn, creds, "cli-session")


def test_credentials_uri_provider(emulator, tmp_path):
    role_arn, creds = _credentials(emulator, "uri-session")
    answer = json.dumps({"Code": "Success", "AccessKeyId": creds.access_key_id,
                         "AccessKeySecret": creds.access_key_secret,
                         "SecurityToken": creds.security_token,
                         "Expiration": creds.expiration}).encode()
    served = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            served.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}/creds?role=rabbitmq"
        output = _run(emulator, tmp_path, {"ALIBABA_CLOUD_CREDENTIALS_URI": uri})
    finally:
        server.shutdown()
    assert served and served[0].startswith("/creds")
    assert output["provider"].startswith("default/") and "uri" in output["provider"]
    _expect_role_session(output, role_arn, creds, "uri-session")
