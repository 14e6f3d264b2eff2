"""The seed scenario end to end, driven by both official SDK generations.

Root of A creates a role trusting B and attaches AliyunAMQPFullAccess; root of B creates a user
through IMS (GetDefaultDomain, CreateUser, CreateLoginProfile honouring GetPasswordPolicy,
CreateAccessKey) and attaches AliyunSTSAssumeRoleAccess; the user's key assumes A's role with
every client flavour; GetCallerIdentity with the STS credentials shows the assumed role; A removes
B from the trust policy, the next AssumeRole fails with NoPermission while the earlier token keeps
working until it expires.
"""

from __future__ import annotations

import json
import secrets
import string

from aliyunsdkram.request.v20150501.AttachPolicyToRoleRequest import AttachPolicyToRoleRequest
from aliyunsdkram.request.v20150501.AttachPolicyToUserRequest import AttachPolicyToUserRequest
from aliyunsdkram.request.v20150501.CreateRoleRequest import CreateRoleRequest
from aliyunsdkram.request.v20150501.GetRoleRequest import GetRoleRequest
from aliyunsdkram.request.v20150501.ListPoliciesForRoleRequest import ListPoliciesForRoleRequest
from aliyunsdkram.request.v20150501.TagResourcesRequest import TagResourcesRequest
from aliyunsdkram.request.v20150501.UpdateRoleRequest import UpdateRoleRequest
from aliyunsdksts.request.v20150401.AssumeRoleRequest import AssumeRoleRequest
from aliyunsdksts.request.v20150401.GetCallerIdentityRequest import GetCallerIdentityRequest
from alibabacloud_ims20190815 import models as ims_models
from alibabacloud_sts20150401 import models as sts_models

from emulator_fixtures import (  # noqa: F401  (fixtures are used by name)
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    EXPIRY_SCALE,
    ROOT,
    _no_faults,
    emulator,
    root_legacy,
    server_error,
    tea_error,
    trust_policy,
    unique,
    wait_until,
)


def compliant_password(policy) -> str:
    """A password satisfying the policy GetPasswordPolicy returned."""
    length = max(policy.minimum_password_length or 8, 12)
    pools = [string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#%*+-=?"]
    chars = [secrets.choice(pool) for pool in pools]
    alphabet = "".join(pools)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    return "".join(chars)


def test_seed_scenario_with_both_sdk_generations(emulator):
    role_name = unique("rabbitmq-access")
    role_arn = f"acs:ram::{ACCOUNT_A}:role/{role_name}"

    # --- Account A (legacy SDK, V2): the role trusting B, with AMQP permissions ---------------
    root_a = root_legacy(emulator, ACCOUNT_A)
    create = CreateRoleRequest()
    create.set_RoleName(role_name)
    create.set_AssumeRolePolicyDocument(trust_policy(f"acs:ram::{ACCOUNT_B}:root"))
    create.set_Description("RabbitMQ access for account B")
    create.set_MaxSessionDuration(7200)
    role = emulator.legacy_do(root_a, create)["Role"]
    assert role["Arn"] == role_arn
    assert role["MaxSessionDuration"] == 7200

    attach = AttachPolicyToRoleRequest()
    attach.set_RoleName(role_name)
    attach.set_PolicyType("System")
    attach.set_PolicyName("AliyunAMQPFullAccess")
    emulator.legacy_do(root_a, attach)
    tag = TagResourcesRequest()
    tag.set_ResourceType("role")
    tag.set_ResourceNames([role_name])
    tag.set_Tag([{"Key": "ram.alicloud.dev/owner", "Value": "c/ns/CrossAccountRole/r"}])
    emulator.legacy_do(root_a, tag)
    listed = ListPoliciesForRoleRequest()
    listed.set_RoleName(role_name)
    policies = emulator.legacy_do(root_a, listed)["Policies"]["Policy"]
    assert [p["PolicyName"] for p in policies] == ["AliyunAMQPFullAccess"]

    # --- Account B (Tea IMS, V3): the user, its login profile and access key ---------------
    ims_b = emulator.ims(*ROOT[ACCOUNT_B])
    domain = ims_b.get_default_domain().body.default_domain_name
    assert domain == "account-b.onaliyun.com"
    user_name = unique("app")
    upn = f"{user_name}@{domain}"
    created = ims_b.create_user(ims_models.CreateUserRequest(
        user_principal_name=upn,
        display_name="App user",
        tag=[ims_models.CreateUserRequestTag(key="ram.alicloud.dev/owner", value="c/ns/RamUser/app")],
    )).body.user
    assert created.user_principal_name == upn
    policy = ims_b.get_password_policy().body.password_policy
    profile = ims_b.create_login_profile(ims_models.CreateLoginProfileRequest(
        user_principal_name=upn,
        password=compliant_password(policy),
        password_reset_required=True,
        mfabind_required=True,
    )).body.login_profile
    assert profile.user_principal_name == upn
    assert profile.password_reset_required is True
    key = ims_b.create_access_key(
        ims_models.CreateAccessKeyRequest(user_principal_name=upn)
    ).body.access_key
    assert key.access_key_id.startswith("LTAI")
    assert key.status == "Active"

    root_b = root_legacy(emulator, ACCOUNT_B)
    attach_user = AttachPolicyToUserRequest()
    attach_user.set_UserName(user_name)
    attach_user.set_PolicyType("System")
    attach_user.set_PolicyName("AliyunSTSAssumeRoleAccess")
    emulator.legacy_do(root_b, attach_user)

    # --- B's user assumes A's role with every client flavour -------------------------------
    sts_v3 = emulator.sts(key.access_key_id, key.access_key_secret)
    sts_v2 = emulator.sts(key.access_key_id, key.access_key_secret, v2=True)
    tokens = []
    for client in (sts_v3, sts_v2):
        body = client.assume_role(sts_models.AssumeRoleRequest(
            role_arn=role_arn, role_session_name="seed-session", duration_seconds=3600,
        )).body
        assert body.credentials.access_key_id.startswith("STS.")
        assert body.assumed_role_user.arn == f"{role_arn}/seed-session"
        assert body.assumed_role_user.assumed_role_id == f"{role['RoleId']}:seed-session"
        assert body.credentials.expiration.endswith("Z") and "T" in body.credentials.expiration
        tokens.append(body.credentials)
    legacy_user = emulator.legacy(key.access_key_id, key.access_key_secret)
    assume = AssumeRoleRequest()
    assume.set_RoleArn(role_arn)
    assume.set_RoleSessionName("legacy-session")
    assume.set_DurationSeconds(900)
    legacy_creds = emulator.legacy_do(legacy_user, assume)["Credentials"]
    assert legacy_creds["AccessKeyId"].startswith("STS.")

    # --- GetCallerIdentity with the STS credentials shows the assumed role -----------------
    first = tokens[0]
    identity = emulator.sts(first.access_key_id, first.access_key_secret, first.security_token) \
        .get_caller_identity().body
    assert identity.account_id == ACCOUNT_A
    assert identity.identity_type == "AssumedRoleUser"
    assert identity.arn == f"acs:ram::{ACCOUNT_A}:assumed-role/{role_name}/seed-session"
    assert identity.role_id == role["RoleId"]
    legacy_sts = emulator.legacy(
        legacy_creds["AccessKeyId"], legacy_creds["AccessKeySecret"], legacy_creds["SecurityToken"]
    )
    legacy_identity = emulator.legacy_do(legacy_sts, GetCallerIdentityRequest())
    assert legacy_identity["Arn"].endswith(f"{role_name}/legacy-session")
    # The role holds AMQP permissions only, so RAM refuses it.
    get_role = GetRoleRequest()
    get_role.set_RoleName(role_name)
    denied = server_error(lambda: emulator.legacy_do(legacy_sts, get_role))
    assert denied.get_error_code() == "NoPermission"
    assert denied.get_http_status() == 403

    # --- A revokes B: the next AssumeRole fails, the issued token keeps working -------------
    update = UpdateRoleRequest()
    update.set_RoleName(role_name)
    update.set_NewAssumeRolePolicyDocument(trust_policy(f"acs:ram::{ACCOUNT_C}:root"))
    emulator.legacy_do(root_a, update)
    error = tea_error(lambda: sts_v3.assume_role(sts_models.AssumeRoleRequest(
        role_arn=role_arn, role_session_name="after-revoke")))
    assert error.code == "NoPermission"
    assert error.status_code == 403
    still = emulator.sts(first.access_key_id, first.access_key_secret, first.security_token, v2=True)
    assert still.get_caller_identity().body.arn.endswith("/seed-session")

    # The 900-second legacy token lives 9 seconds at this expiry scale, then stops working.
    wait_until(lambda: server_error_or_none(emulator, legacy_sts) == "InvalidSecurityToken.Expired",
               timeout=900 * EXPIRY_SCALE + 60)

    state = emulator.account_state(ACCOUNT_A)
    stored = next(r for r in state["roles"] if r["roleName"] == role_name)
    assert json.loads(stored["assumeRolePolicyDocument"])["Statement"][0]["Principal"]["RAM"] == [
        f"acs:ram::{ACCOUNT_C}:root"
    ]
    assert stored["tags"] == {"ram.alicloud.dev/owner": "c/ns/CrossAccountRole/r"}
    user_state = next(
        u for u in emulator.account_state(ACCOUNT_B)["users"] if u["userName"] == user_name
    )
    assert user_state["tags"] == {"ram.alicloud.dev/owner": "c/ns/RamUser/app"}
    assert user_state["accessKeys"][0]["accessKeyId"] == key.access_key_id
    assert "secret" not in json.dumps(user_state).lower()


def server_error_or_none(emulator, client):
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    try:
        emulator.legacy_do(client, GetCallerIdentityRequest())
        return None
    except ServerException as error:
        return error.get_error_code()
