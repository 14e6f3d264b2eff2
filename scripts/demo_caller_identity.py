"""Part of `make demo`: call STS GetCallerIdentity with the credentials an StsGrant keeps in
its Secret, the way a workload does with `envFrom` (the ALIBABA_CLOUD_* variables), using the
official Tea SDK. Prints who the caller is; never a credential.

usage: kubectl get secret <grant secret> -o json | demo_caller_identity.py <emulator host:port>
"""

import base64
import json
import os
import sys

ENV_KEYS = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
)

from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.models import Config


def main() -> int:
    data = json.load(sys.stdin)["data"]
    for key in ENV_KEYS:  # what envFrom does for a pod
        os.environ[key] = base64.b64decode(data[key]).decode()
    config = Config(
        access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        access_key_secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        security_token=os.environ["ALIBABA_CLOUD_SECURITY_TOKEN"],
        endpoint=sys.argv[1],
        protocol="http",
        region_id="cn-hangzhou",
    )
    try:
        identity = StsClient(config).get_caller_identity().body
    except Exception as error:  # the SDK's error carries the service's code and message
        code = getattr(error, "code", type(error).__name__)
        print(f"    GetCallerIdentity refused: {code}")
        return 1
    print(f"    GetCallerIdentity -> Arn {identity.arn}")
    print(f"                         AccountId {identity.account_id}, IdentityType {identity.identity_type}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
