"""Authorization, RAM / IMS state errors, STS rules, OIDC, faults and call counts (issue
behaviours 3-5 and 7) through the official SDKs."""

from __future__ import annotations

import json

from alibabacloud_ims20190815 import models as ims_models
from alibabacloud_sts20150401 import models as sts_models

from emulator_fixtures import (  # noqa: F401
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    IMS,
    OIDC_PROVIDER_ARN,
    RAM,
    ROOT,
    _no_faults,
    emulator,
    root_legacy,
    server_error,
    tea_error,
    trust_policy,
    unique,
)
from emulator_fixtures import make_policy, make_role, make_user

ALLOW_ALL_RAM = json.dumps({"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "ram:*", "Resource": "*"}]})


def ram_error(emulator, client, action, params):
    return server_error(lambda: emulator.legacy_common(client, RAM, action, params))


def assert_code(error, code, status):
    assert (error.get_error_code(), error.get_http_status()) == (code, status), error


# ---- Behaviour 3: authorization --------------------------------------------------------------

def test_read_only_user_reads_but_cannot_write(emulator):
    _, key_id, secret = make_user(emulator, ACCOUNT_A, "AliyunRAMReadOnlyAccess")
    role_arn = make_role(emulator, ACCOUNT_A)
    make_role(emulator, ACCOUNT_A)
    client = emulator.legacy(key_id, secret)
    role_name = role_arn.rsplit("/", 1)[1]
    assert emulator.legacy_common(client, RAM, "GetRole", {"RoleName": role_name})["Role"]["Arn"] == role_arn
    page = emulator.legacy_common(client, RAM, "ListRoles", {"MaxItems": "1"})
    assert page["IsTruncated"] is True and len(page["Roles"]["Role"]) == 1
    rest = emulator.legacy_common(client, RAM, "ListRoles", {"Marker": page["Marker"], "MaxItems": "1000"})
    assert rest["IsTruncated"] is False
    assert page["Roles"]["Role"][0]["RoleName"] not in [r["RoleName"] for r in rest["Roles"]["Role"]]
    error = ram_error(emulator, client, "CreateRole", {
        "RoleName": unique("nope"), "AssumeRolePolicyDocument": trust_policy(f"acs:ram::{ACCOUNT_B}:root")})
    assert_code(error, "NoPermission", 403)
    # The Tea SDK surfaces the AccessDeniedDetail of the same answer.
    tea = tea_error(lambda: emulator.tea_call(emulator.config(key_id, secret), RAM, "DeleteRole",
                                              {"RoleName": role_name}))
    assert tea.code == "NoPermission"
    assert tea.access_denied_detail["AuthAction"] == "ram:DeleteRole"
    assert tea.access_denied_detail["NoPermissionType"] == "ImplicitDeny"


def test_explicit_deny_wins_over_full_access(emulator):
    deny = make_policy(emulator, ACCOUNT_A, json.dumps({"Version": "1", "Statement": [
        {"Effect": "Deny", "Action": ["ram:Delete*"], "Resource": f"acs:ram:*:{ACCOUNT_A}:role/*"}]}))
    _, key_id, secret = make_user(emulator, ACCOUNT_A, "AliyunRAMFullAccess", custom=(deny,))
    client = emulator.legacy(key_id, secret)
    role_name = make_role(emulator, ACCOUNT_A).rsplit("/", 1)[1]
    emulator.legacy_common(client, RAM, "UpdateRole", {"RoleName": role_name, "NewDescription": "ok"})
    error = tea_error(lambda: emulator.tea_call(emulator.config(key_id, secret, v2=True), RAM,
                                                "DeleteRole", {"RoleName": role_name}))
    assert error.code == "NoPermission"
    assert error.access_denied_detail["NoPermissionType"] == "ExplicitDeny"


def test_assume_role_needs_permission_and_trust(emulator):
    role_arn = make_role(emulator, ACCOUNT_A)
    request = sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="s1")
    # No sts:AssumeRole permission.
    _, key_id, secret = make_user(emulator, ACCOUNT_B)
    assert tea_error(lambda: emulator.sts(key_id, secret).assume_role(request)).code == "NoPermission"
    # Permission on another role only (custom policy with a Resource ARN).
    other = make_policy(emulator, ACCOUNT_B, json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"acs:ram::{ACCOUNT_A}:role/other"}]}))
    _, key_id, secret = make_user(emulator, ACCOUNT_B, custom=(other,))
    assert tea_error(lambda: emulator.sts(key_id, secret).assume_role(request)).code == "NoPermission"
    exact = make_policy(emulator, ACCOUNT_B, json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}))
    _, key_id, secret = make_user(emulator, ACCOUNT_B, custom=(exact,))
    assert emulator.sts(key_id, secret).assume_role(request).body.credentials.access_key_id.startswith("STS.")
    # Permission but an untrusted account.
    _, key_id, secret = make_user(emulator, ACCOUNT_C, "AliyunSTSAssumeRoleAccess")
    assert tea_error(lambda: emulator.sts(key_id, secret).assume_role(request)).code == "NoPermission"


def test_trust_in_one_user_and_external_id(emulator):
    alice, alice_key, alice_secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    _, bob_key, bob_secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    role_arn = make_role(emulator, ACCOUNT_A, trust_policy(
        f"acs:ram::{ACCOUNT_B}:user/{alice}",
        condition={"StringEquals": {"sts:ExternalId": "rabbit-42"}}))
    def assume(key, secret, external_id=None):
        return emulator.sts(key, secret).assume_role(sts_models.AssumeRoleRequest(
            role_arn=role_arn, role_session_name="ext", external_id=external_id))
    assert tea_error(lambda: assume(alice_key, alice_secret)).code == "NoPermission"
    assert tea_error(lambda: assume(alice_key, alice_secret, "wrong-id")).code == "NoPermission"
    assert assume(alice_key, alice_secret, "rabbit-42").body.credentials.access_key_id.startswith("STS.")
    assert tea_error(lambda: assume(bob_key, bob_secret, "rabbit-42")).code == "NoPermission"


def test_session_policy_narrows_the_role(emulator):
    role_arn = make_role(emulator, ACCOUNT_A, None, "AliyunRAMReadOnlyAccess")
    _, key_id, secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    session_policy = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:GetRole", "Resource": "*"}]})
    creds = emulator.sts(key_id, secret).assume_role(sts_models.AssumeRoleRequest(
        role_arn=role_arn, role_session_name="narrow", policy=session_policy)).body.credentials
    session = emulator.legacy(creds.access_key_id, creds.access_key_secret, creds.security_token)
    role_name = role_arn.rsplit("/", 1)[1]
    assert emulator.legacy_common(session, RAM, "GetRole", {"RoleName": role_name})["Role"]["Arn"] == role_arn
    assert_code(ram_error(emulator, session, "ListRoles", {}), "NoPermission", 403)


# ---- Behaviour 4: RAM / IMS state --------------------------------------------------------

def test_role_errors(emulator):
    root = root_legacy(emulator, ACCOUNT_A)
    role_name = make_role(emulator, ACCOUNT_A).rsplit("/", 1)[1]
    trust = trust_policy(f"acs:ram::{ACCOUNT_B}:root")
    assert_code(ram_error(emulator, root, "CreateRole", {"RoleName": role_name, "AssumeRolePolicyDocument": trust}),
                "EntityAlreadyExists.Role", 409)
    assert_code(ram_error(emulator, root, "GetRole", {"RoleName": "missing-role"}), "EntityNotExist.Role", 404)
    assert_code(ram_error(emulator, root, "CreateRole", {"RoleName": "bad_name", "AssumeRolePolicyDocument": trust}),
                "InvalidParameter.RoleName.InvalidChars", 400)
    assert_code(ram_error(emulator, root, "CreateRole", {"RoleName": "r" * 65, "AssumeRolePolicyDocument": trust}),
                "InvalidParameter.RoleName.Length", 400)
    assert_code(ram_error(emulator, root, "CreateRole", {
        "RoleName": unique("r"), "AssumeRolePolicyDocument": trust, "MaxSessionDuration": "100"}),
        "InvalidParameter.MaxSessionDuration", 400)
    assert_code(ram_error(emulator, root, "CreateRole", {
        "RoleName": unique("r"), "AssumeRolePolicyDocument": '{"Version":"1","Statement":[{"Effect":"Allow"}]}'}),
        "MalformedPolicyDocument", 400)
    assert_code(ram_error(emulator, root, "CreateRole", {"RoleName": unique("r")}), "MissingAssumeRolePolicyDocument", 400)
    attach = {"RoleName": role_name, "PolicyType": "System", "PolicyName": "AliyunAMQPReadOnlyAccess"}
    emulator.legacy_common(root, RAM, "AttachPolicyToRole", attach)
    assert_code(ram_error(emulator, root, "AttachPolicyToRole", attach), "EntityAlreadyExists.Role.Policy", 409)
    assert_code(ram_error(emulator, root, "AttachPolicyToRole", {**attach, "PolicyName": "NoSuchPolicy"}),
                "EntityNotExist.Policy", 404)
    assert_code(ram_error(emulator, root, "DeleteRole", {"RoleName": role_name}), "DeleteConflict.Role.Policy", 409)
    emulator.legacy_common(root, RAM, "DetachPolicyFromRole", attach)
    assert_code(ram_error(emulator, root, "DetachPolicyFromRole", attach), "EntityNotExist.Role.Policy", 404)
    emulator.legacy_common(root, RAM, "DeleteRole", {"RoleName": role_name})
    assert_code(ram_error(emulator, root, "DeleteRole", {"RoleName": role_name}), "EntityNotExist.Role", 404)


def test_user_errors_through_ims_and_ram(emulator):
    ims = emulator.ims(*ROOT[ACCOUNT_B])
    root = root_legacy(emulator, ACCOUNT_B)
    name = unique("dup")
    upn = f"{name}@account-b.onaliyun.com"
    ims.create_user(ims_models.CreateUserRequest(user_principal_name=upn, display_name="Dup"))
    error = tea_error(lambda: ims.create_user(ims_models.CreateUserRequest(user_principal_name=upn, display_name="x")))
    assert (error.code, error.status_code) == ("EntityAlreadyExists.User", 409)
    assert_code(ram_error(emulator, root, "CreateUser", {"UserName": name}), "EntityAlreadyExists.User", 409)
    error = tea_error(lambda: ims.get_user(ims_models.GetUserRequest(user_principal_name=f"nobody@account-b.onaliyun.com")))
    assert (error.code, error.status_code) == ("EntityNotExist.User", 404)
    error = tea_error(lambda: ims.create_user(ims_models.CreateUserRequest(
        user_principal_name=f"{unique('x')}@wrong.onaliyun.com", display_name="x")))
    assert error.code == "InvalidParameter.UserPrincipalName"
    # RAM sees the IMS user under the UPN prefix, and IMS sees RAM's attachments block deletion.
    assert emulator.legacy_common(root, RAM, "GetUser", {"UserName": name})["User"]["UserName"] == name
    attach = {"UserName": name, "PolicyType": "System", "PolicyName": "AliyunSTSAssumeRoleAccess"}
    emulator.legacy_common(root, RAM, "AttachPolicyToUser", attach)
    assert_code(ram_error(emulator, root, "AttachPolicyToUser", attach), "EntityAlreadyExists.User.Policy", 409)
    error = tea_error(lambda: ims.delete_user(ims_models.DeleteUserRequest(user_principal_name=upn)))
    assert (error.code, error.status_code) == ("DeleteConflict.User.Policy", 409)
    emulator.legacy_common(root, RAM, "DetachPolicyFromUser", attach)
    ims.tag_resources(ims_models.TagResourcesRequest(
        resource_type="user", resource_principal_name=[upn],
        tag=[ims_models.TagResourcesRequestTag(key="team", value="mq")]))
    tags = ims.list_tag_resources(ims_models.ListTagResourcesRequest(
        resource_type="user", resource_principal_name=[upn])).body.tag_resources.tag_resource
    assert [(t.tag_key, t.tag_value) for t in tags] == [("team", "mq")]
    ims.untag_resources(ims_models.UntagResourcesRequest(
        resource_type="user", resource_principal_name=[upn], tag_key=["team"]))
    assert ims.get_user(ims_models.GetUserRequest(user_principal_name=upn)).body.user.tags.tag == []
    ims.delete_user(ims_models.DeleteUserRequest(user_principal_name=upn))
    assert_code(ram_error(emulator, root, "GetUser", {"UserName": name}), "EntityNotExist.User", 404)


def test_password_policy_is_enforced_on_login_profiles(emulator):
    root = root_legacy(emulator, ACCOUNT_C)
    ims = emulator.ims(*ROOT[ACCOUNT_C])
    emulator.legacy_common(root, RAM, "SetPasswordPolicy", {
        "MinimumPasswordLength": "14", "RequireNumbers": "true", "RequireSymbols": "true"})
    try:
        policy = ims.get_password_policy().body.password_policy
        assert (policy.minimum_password_length, policy.require_numbers) == (14, True)
        name = unique("person")
        upn = f"{name}@account-c.onaliyun.com"
        ims.create_user(ims_models.CreateUserRequest(user_principal_name=upn, display_name="Person"))
        for weak in ("short1!", "longenoughbutnodigits!", "longenoughnosymbol123"):
            error = tea_error(lambda: ims.create_login_profile(ims_models.CreateLoginProfileRequest(
                user_principal_name=upn, password=weak)))
            assert (error.code, error.status_code) == ("InvalidParameter.Password.TooWeak", 400)
        ims.create_login_profile(ims_models.CreateLoginProfileRequest(
            user_principal_name=upn, password="Strong-password-1"))
        error = tea_error(lambda: ims.create_login_profile(ims_models.CreateLoginProfileRequest(
            user_principal_name=upn, password="Strong-password-1")))
        assert error.code == "EntityAlreadyExists.User.LoginProfile"
        assert_code(ram_error(emulator, root, "DeleteUser", {"UserName": name}), "DeleteConflict.User.LoginProfile", 409)
        ims.delete_login_profile(ims_models.DeleteLoginProfileRequest(user_principal_name=upn))
        error = tea_error(lambda: ims.get_login_profile(ims_models.GetLoginProfileRequest(user_principal_name=upn)))
        assert (error.code, error.status_code) == ("EntityNotExist.User.LoginProfile", 404)
    finally:
        emulator.legacy_common(root, RAM, "SetPasswordPolicy", {
            "MinimumPasswordLength": "8", "RequireNumbers": "false", "RequireSymbols": "false"})


def test_policy_versions_and_documents(emulator):
    root = root_legacy(emulator, ACCOUNT_A)
    name = make_policy(emulator, ACCOUNT_A, ALLOW_ALL_RAM)
    assert_code(ram_error(emulator, root, "CreatePolicy", {"PolicyName": name, "PolicyDocument": ALLOW_ALL_RAM}),
                "EntityAlreadyExists.Policy", 409)
    assert_code(ram_error(emulator, root, "CreatePolicy", {"PolicyName": unique("p"), "PolicyDocument": "{not json"}),
                "MalformedPolicyDocument", 400)
    big = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": [f"ram:Get{i:05d}" for i in range(700)], "Resource": "*"}]})
    assert_code(ram_error(emulator, root, "CreatePolicy", {"PolicyName": unique("p"), "PolicyDocument": big}),
                "InvalidParameter.PolicyDocument.Length", 400)
    for _ in range(4):
        emulator.legacy_common(root, RAM, "CreatePolicyVersion", {
            "PolicyName": name, "PolicyDocument": ALLOW_ALL_RAM, "SetAsDefault": "true"})
    assert_code(ram_error(emulator, root, "CreatePolicyVersion", {"PolicyName": name, "PolicyDocument": ALLOW_ALL_RAM}),
                "LimitExceeded.Policy.Version", 409)
    rotated = emulator.legacy_common(root, RAM, "CreatePolicyVersion", {
        "PolicyName": name, "PolicyDocument": ALLOW_ALL_RAM,
        "RotateStrategy": "DeleteOldestNonDefaultVersionWhenLimitExceeded"})
    assert rotated["PolicyVersion"]["VersionId"] == "v6"
    versions = emulator.legacy_common(root, RAM, "ListPolicyVersions", {"PolicyName": name, "PolicyType": "Custom"})
    assert [v["VersionId"] for v in versions["PolicyVersions"]["PolicyVersion"]] == ["v2", "v3", "v4", "v5", "v6"]
    got = emulator.legacy_common(root, RAM, "GetPolicy", {"PolicyName": name, "PolicyType": "Custom"})
    assert got["DefaultPolicyVersion"]["VersionId"] == "v5"
    assert_code(ram_error(emulator, root, "DeletePolicy", {"PolicyName": name}), "DeleteConflict.Policy.Version", 409)
    emulator.legacy_common(root, RAM, "DeletePolicy", {"PolicyName": name, "CascadingDelete": "true"})
    assert_code(ram_error(emulator, root, "GetPolicy", {"PolicyName": name, "PolicyType": "Custom"}),
                "EntityNotExist.Policy", 404)
    system = emulator.legacy_common(root, RAM, "GetPolicy", {"PolicyName": "AliyunSTSAssumeRoleAccess", "PolicyType": "System"})
    assert json.loads(system["DefaultPolicyVersion"]["PolicyDocument"])["Statement"][0]["Action"] == "sts:AssumeRole"


# ---- Behaviour 5: STS --------------------------------------------------------------------

def test_assume_role_parameter_rules(emulator):
    role_arn = make_role(emulator, ACCOUNT_A, None, max_session=7200)
    _, key_id, secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    sts = emulator.sts(key_id, secret, v2=True)
    def code(**kwargs):
        args = {"role_arn": role_arn, "role_session_name": "rules", **kwargs}
        error = tea_error(lambda: sts.assume_role(sts_models.AssumeRoleRequest(**args)))
        assert error.status_code in (400, 404), error
        return error.code
    assert code(duration_seconds=899) == "InvalidParameter.DurationSeconds"
    assert code(duration_seconds=7201) == "InvalidParameter.DurationSeconds"
    assert code(role_session_name="a") == "InvalidParameter.RoleSessionName"
    assert code(role_session_name="has space") == "InvalidParameter.RoleSessionName"
    assert code(policy="{not json") == "InvalidParameter.PolicyGrammar"
    assert code(policy=json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["ram:Get" + "x" * 60] * 40, "Resource": "*"}]})) == "InvalidParameter.PolicySize"
    assert code(role_arn="not-an-arn") == "InvalidParameter.RoleArn"
    assert code(role_arn=f"acs:ram::{ACCOUNT_A}:role/does-not-exist") == "EntityNotExist.Role"
    creds = sts.assume_role(sts_models.AssumeRoleRequest(
        role_arn=role_arn, role_session_name="max", duration_seconds=7200)).body.credentials
    assert creds.expiration.endswith("Z")


def test_assume_role_with_oidc(emulator):
    root = root_legacy(emulator, ACCOUNT_A)
    name = unique("rrsa")
    trust = json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Federated": [OIDC_PROVIDER_ARN]},
        "Condition": {"StringEquals": {"oidc:sub": "system:serviceaccount:default:app"}}}]})
    emulator.legacy_common(root, RAM, "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": trust})
    role_arn = f"acs:ram::{ACCOUNT_A}:role/{name}"
    for v2 in (False, True):
        sts = emulator.sts(v2=v2)
        body = sts.assume_role_with_oidc(sts_models.AssumeRoleWithOIDCRequest(
            role_arn=role_arn, oidcprovider_arn=OIDC_PROVIDER_ARN,
            oidctoken=emulator.oidc_token(), role_session_name="rrsa")).body
        assert body.oidctoken_info.subject == "system:serviceaccount:default:app"
        creds = body.credentials
        identity = emulator.sts(creds.access_key_id, creds.access_key_secret, creds.security_token) \
            .get_caller_identity().body
        assert identity.arn == f"acs:ram::{ACCOUNT_A}:assumed-role/{name}/rrsa"
    sts = emulator.sts()
    def oidc_code(token):
        return tea_error(lambda: sts.assume_role_with_oidc(sts_models.AssumeRoleWithOIDCRequest(
            role_arn=role_arn, oidcprovider_arn=OIDC_PROVIDER_ARN, oidctoken=token,
            role_session_name="rrsa"))).code
    from cryptography.hazmat.primitives.asymmetric import rsa
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert oidc_code(emulator.oidc_token(key=stranger)) == "AuthenticationFail.OIDCToken.Invalid"
    assert oidc_code(emulator.oidc_token(lifetime=-60)) == "AuthenticationFail.OIDCToken.Expired"
    assert oidc_code(emulator.oidc_token(subject="system:serviceaccount:other:app")) == "NoPermission"


# ---- Behaviour 7: faults, and call counts -------------------------------------------------

def test_injected_faults_look_like_the_real_errors(emulator):
    role_arn = make_role(emulator, ACCOUNT_A)
    _, key_id, secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    request = sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="faulty")
    emulator.admin("POST", "/_emulator/faults", {"faults": [
        {"action": "AssumeRole", "code": "Throttling.User", "httpStatus": 400, "rate": 1.0, "latencyMs": 10}]})
    error = tea_error(lambda: emulator.sts(key_id, secret).assume_role(request))
    assert (error.code, error.status_code) == ("Throttling.User", 400)
    legacy = emulator.legacy(key_id, secret)
    from aliyunsdksts.request.v20150401.AssumeRoleRequest import AssumeRoleRequest
    legacy_request = AssumeRoleRequest()
    legacy_request.set_RoleArn(role_arn)
    legacy_request.set_RoleSessionName("faulty")
    assert server_error(lambda: emulator.legacy_do(legacy, legacy_request)).get_error_code() == "Throttling.User"
    # Faults apply after authentication: a bad key is still refused as such.
    assert tea_error(lambda: emulator.sts("LTAI5tNope000000000000", "x").assume_role(request)).code \
        == "InvalidAccessKeyId.NotFound"
    # Other actions are untouched by an AssumeRole rule.
    assert emulator.sts(key_id, secret).get_caller_identity().body.identity_type == "RAMUser"
    emulator.admin("POST", "/_emulator/faults", {"faults": [{"action": "*", "code": "ServiceUnavailable", "rate": 1}]})
    error = tea_error(lambda: emulator.sts(key_id, secret).get_caller_identity())
    assert (error.code, error.status_code) == ("ServiceUnavailable", 503)
    emulator.admin("DELETE", "/_emulator/faults")
    assert emulator.sts(key_id, secret).assume_role(request).body.credentials.access_key_id.startswith("STS.")


def test_call_counts_per_action_caller_and_code(emulator):
    role_arn = make_role(emulator, ACCOUNT_A)
    name, key_id, secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    emulator.admin("DELETE", "/_emulator/calls")
    sts = emulator.sts(key_id, secret)
    for _ in range(3):
        sts.assume_role(sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="count"))
    tea_error(lambda: emulator.sts(*ROOT[ACCOUNT_B]).assume_role(
        sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="count")))
    calls = emulator.admin("GET", "/_emulator/calls")
    assert calls["totals"]["AssumeRole"] == {"Success": 3, "NoPermission": 1}
    user_arn = f"acs:ram::{ACCOUNT_B}:user/{name}"
    assert {"action": "AssumeRole", "caller": user_arn, "code": "Success", "count": 3} in calls["calls"]
    state = emulator.admin("GET", "/_emulator/state")
    issued = [c for c in state["stsCredentials"] if c["issuedTo"] == user_arn]
    assert len(issued) == 3 and all(c["roleArn"] == role_arn and not c["expired"] for c in issued)
    assert "SecurityToken" not in json.dumps(state) and "secret" not in json.dumps(state).lower()
