"""Who am I, according to the official SDK: the credentials come from `alibabacloud_credentials`'
default chain exactly as in a pod (environment variables, or `~/.aliyun/config.json`), and
`alibabacloud_sts20150401` calls GetCallerIdentity at the endpoint given as the only argument.

Prints one JSON line: the provider that supplied the credentials, the AccessKey ID (never the
secret), and the caller's ARN and identity type. Used by tests/e2e_sts_grant.rs, which runs it
in a fresh process with an environment built from a grant's Secret."""

import json
import sys

from alibabacloud_credentials.client import Client as Credentials
from alibabacloud_sts20150401.client import Client
from alibabacloud_tea_openapi.models import Config


def main() -> None:
    credential = Credentials()
    model = credential.get_credential()
    config = Config(credential=credential, endpoint=sys.argv[1], protocol="http",
                    region_id="cn-hangzhou")
    identity = Client(config).get_caller_identity().body
    print(json.dumps({"provider": model.provider_name, "key": model.access_key_id,
                      "arn": identity.arn, "type": identity.identity_type,
                      "account": str(identity.account_id)}))


if __name__ == "__main__":
    main()
