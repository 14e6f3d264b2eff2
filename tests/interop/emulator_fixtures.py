"""Fixtures and helpers for driving `ram-operator emulator` with the official SDKs.

The emulator binary (`target/debug/ram-operator`, or `$RAM_OPERATOR_BIN`) is started once per
session on a free port with a temporary accounts file (accounts A, B and C plus an OIDC provider
whose JWKS is generated here) and `--expiry-scale 0.01`, so a 900-second token lives 9 seconds.
Both SDK generations are wrapped: the legacy `aliyunsdkcore` (V2 signatures) and the Tea
`alibabacloud_tea_openapi` clients (V3 by default, V2 with `signature_algorithm="v2"`).
`make_user`, `make_role` and `make_policy` build test principals with root keys.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest

# The legacy SDK forwards proxy variables as explicit proxies; the emulator is on loopback.
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)

from aliyunsdkcore.acs_exception.exceptions import ServerException  # noqa: E402
from aliyunsdkcore.auth.credentials import StsTokenCredential  # noqa: E402
from aliyunsdkcore.client import AcsClient  # noqa: E402
from aliyunsdkcore.request import CommonRequest  # noqa: E402
from alibabacloud_ims20190815.client import Client as ImsClient  # noqa: E402
from alibabacloud_sts20150401.client import Client as StsClient  # noqa: E402
from alibabacloud_tea_openapi import utils_models  # noqa: E402
from alibabacloud_tea_openapi.client import Client as OpenApiClient  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402
from alibabacloud_tea_openapi.utils import Utils  # noqa: E402
from darabonba.runtime import RuntimeOptions  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
EXPIRY_SCALE = 0.01

ACCOUNT_A = "1111111111111111"
ACCOUNT_B = "2222222222222222"
ACCOUNT_C = "3333333333333333"
ROOT = {
    ACCOUNT_A: ("LTAI5tAccountARoot0001", "emulator-only-fake-secret-account-a"),
    ACCOUNT_B: ("LTAI5tAccountBRoot0001", "emulator-only-fake-secret-account-b"),
    ACCOUNT_C: ("LTAI5tAccountCRoot0001", "emulator-only-fake-secret-account-c"),
}
ALIASES = {ACCOUNT_A: "account-a", ACCOUNT_B: "account-b", ACCOUNT_C: "account-c"}
OIDC_PROVIDER_ARN = f"acs:ram::{ACCOUNT_A}:oidc-provider/test-cluster"
OIDC_ISSUER = "https://oidc.test.example/cluster"

RAM = "2015-05-01"
IMS = "2019-08-15"
STS = "2015-04-01"


def unique(prefix: str) -> str:
    """A resource name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def trust_policy(*principals: str, condition: dict | None = None) -> str:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": list(principals)},
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "1", "Statement": [statement]})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64url(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Emulator:
    """A running emulator and the clients that talk to it."""

    def __init__(self, port: int, oidc_key, workdir: pathlib.Path):
        self.port = port
        self.endpoint = f"127.0.0.1:{port}"
        self.base = f"http://{self.endpoint}"
        self.oidc_key = oidc_key
        self.workdir = workdir

    # ---- admin -------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def account_state(self, account: str) -> dict:
        state = self.admin("GET", "/_emulator/state")
        return next(a for a in state["accounts"] if a["id"] == account)

    # ---- legacy SDK (aliyunsdkcore, V2) ------------------------------------------------
    def legacy(self, key_id: str, secret: str, token: str | None = None) -> AcsClient:
        if token:
            return AcsClient(
                region_id="cn-hangzhou",
                credential=StsTokenCredential(key_id, secret, token),
                auto_retry=False,
            )
        return AcsClient(key_id, secret, "cn-hangzhou", auto_retry=False)

    def legacy_do(self, client: AcsClient, request) -> dict:
        request.set_endpoint(self.endpoint)
        request.set_protocol_type("http")
        return json.loads(client.do_action_with_exception(request))

    def legacy_common(self, client: AcsClient, version: str, action: str, params: dict) -> dict:
        request = CommonRequest()
        request.set_version(version)
        request.set_action_name(action)
        request.set_method("POST")
        request.set_domain(self.endpoint)
        for key, value in params.items():
            request.add_query_param(key, value)
        return self.legacy_do(client, request)

    # ---- Tea SDK (V3 default, V2 optional) ---------------------------------------------
    def config(self, key_id=None, secret=None, token=None, v2=False, credential=None) -> Config:
        config = Config(
            access_key_id=key_id,
            access_key_secret=secret,
            security_token=token,
            endpoint=self.endpoint,
            protocol="http",
            region_id="cn-hangzhou",
            credential=credential,
        )
        if v2:
            config.signature_algorithm = "v2"
        return config

    def sts(self, *args, **kwargs) -> StsClient:
        return StsClient(self.config(*args, **kwargs))

    def ims(self, *args, **kwargs) -> ImsClient:
        return ImsClient(self.config(*args, **kwargs))

    def tea_call(self, config: Config, version: str, action: str, query: dict) -> dict:
        """Any RPC action through the generic Tea `call_api` (there is no Tea RAM package)."""
        params = utils_models.Params(
            action=action,
            version=version,
            protocol="HTTP",
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )
        request = utils_models.OpenApiRequest(query=Utils.query(query))
        return OpenApiClient(config).call_api(params, request, RuntimeOptions())["body"]

    # ---- OIDC ----------------------------------------------------------------------------
    def oidc_token(self, subject="system:serviceaccount:default:app", lifetime=600, key=None, **extra):
        import jwt

        now = int(time.time())
        claims = {
            "iss": OIDC_ISSUER,
            "sub": subject,
            "aud": "sts.aliyuncs.com",
            "iat": now,
            "exp": now + lifetime,
            **extra,
        }
        return jwt.encode(claims, key or self.oidc_key, algorithm="RS256", headers={"kid": "test-key"})


def root_legacy(emulator: Emulator, account: str) -> AcsClient:
    return emulator.legacy(*ROOT[account])


def server_error(call) -> ServerException:
    """Runs a legacy SDK call that must fail and returns its exception."""
    with pytest.raises(ServerException) as info:
        call()
    return info.value


def tea_error(call):
    """Runs a Tea SDK call that must fail and returns its exception (has .code, .status_code)."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

    with pytest.raises(AlibabaCloudException) as info:
        call()
    return info.value


def wait_until(predicate, timeout=60.0, interval=0.25):
    """Polls `predicate` until it is truthy; fails after a generous timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached within timeout")


def make_user(emulator: Emulator, account: str, *system_policies: str, custom: tuple = ()):
    """A RAM user with one access key and the given policies: (name, key id, secret)."""
    root = root_legacy(emulator, account)
    name = unique("user")
    emulator.legacy_common(root, RAM, "CreateUser", {"UserName": name})
    for policy in system_policies:
        emulator.legacy_common(root, RAM, "AttachPolicyToUser",
                               {"UserName": name, "PolicyType": "System", "PolicyName": policy})
    for policy in custom:
        emulator.legacy_common(root, RAM, "AttachPolicyToUser",
                               {"UserName": name, "PolicyType": "Custom", "PolicyName": policy})
    key = emulator.legacy_common(root, RAM, "CreateAccessKey", {"UserName": name})["AccessKey"]
    return name, key["AccessKeyId"], key["AccessKeySecret"]


def make_role(emulator: Emulator, account: str, trust: str | None = None, *system_policies: str,
              max_session: int = 3600) -> str:
    """A role (trusting account B's root by default) with policies; returns its ARN."""
    root = root_legacy(emulator, account)
    name = unique("role")
    emulator.legacy_common(root, RAM, "CreateRole", {
        "RoleName": name,
        "AssumeRolePolicyDocument": trust or trust_policy("acs:ram::2222222222222222:root"),
        "MaxSessionDuration": str(max_session),
    })
    for policy in system_policies:
        emulator.legacy_common(root, RAM, "AttachPolicyToRole",
                               {"RoleName": name, "PolicyType": "System", "PolicyName": policy})
    return f"acs:ram::{account}:role/{name}"


def make_policy(emulator: Emulator, account: str, document: str) -> str:
    """A custom policy with this document; returns its name."""
    name = unique("policy")
    emulator.legacy_common(root_legacy(emulator, account), RAM, "CreatePolicy",
                           {"PolicyName": name, "PolicyDocument": document})
    return name


def _binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("RAM_OPERATOR_BIN", REPO / "target" / "debug" / "ram-operator"))
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: run `cargo build` first or set RAM_OPERATOR_BIN")
    return path


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    from cryptography.hazmat.primitives.asymmetric import rsa

    workdir = tmp_path_factory.mktemp("emulator")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "kid": "test-key", "alg": "RS256", "use": "sig",
                      "n": _b64url(numbers.n), "e": _b64url(numbers.e)}]}
    (workdir / "jwks.json").write_text(json.dumps(jwks))
    accounts = {"accounts": [
        {"id": account, "alias": ALIASES[account],
         "accessKeys": [{"id": ROOT[account][0], "secret": ROOT[account][1]}]}
        for account in (ACCOUNT_A, ACCOUNT_B, ACCOUNT_C)
    ]}
    accounts["accounts"][0]["oidcProviders"] = [
        {"arn": OIDC_PROVIDER_ARN, "issuer": OIDC_ISSUER, "jwksFile": "jwks.json",
         "clientIds": ["sts.aliyuncs.com"]}
    ]
    accounts_file = workdir / "accounts.yaml"
    accounts_file.write_text(json.dumps(accounts))  # JSON is YAML
    port = _free_port()
    log = open(workdir / "emulator.log", "wb")
    process = subprocess.Popen(
        [str(_binary()), "emulator", "--listen", f"127.0.0.1:{port}",
         "--accounts", str(accounts_file), "--expiry-scale", str(EXPIRY_SCALE)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    emulator = Emulator(port, key, workdir)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(emulator.base + "/_emulator/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((workdir / "emulator.log").read_text())
        time.sleep(0.1)
    yield emulator
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(autouse=True)
def _no_faults(emulator):
    """Every test starts without injected faults."""
    emulator.admin("DELETE", "/_emulator/faults")
    yield
    emulator.admin("DELETE", "/_emulator/faults")
