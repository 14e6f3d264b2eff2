"""Authentication and identities (issue behaviours 1 and 2) through the official SDKs:
bad signatures, unknown and disabled keys, stale and future timestamps, reused nonces, wrong STS
tokens, form decoding, root keys refused for AssumeRole, the two-key limit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aliyunsdkcore.utils.parameter_helper as legacy_helper
from aliyunsdksts.request.v20150401.GetCallerIdentityRequest import GetCallerIdentityRequest
from alibabacloud_ims20190815 import models as ims_models
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_tea_openapi.utils import Utils

from emulator_fixtures import (  # noqa: F401
    ACCOUNT_A,
    ACCOUNT_B,
    RAM,
    ROOT,
    _no_faults,
    emulator,
    root_legacy,
    server_error,
    tea_error,
    unique,
)
from emulator_fixtures import make_role, make_user


def _timestamp(offset_minutes: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(minutes=offset_minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_wrong_secret_is_signature_does_not_match_with_server_string(emulator):
    key_id, _ = ROOT[ACCOUNT_B]
    # The legacy SDK relabels the error InvalidAccessKeySecret only when the server's string to
    # sign (after the first ':' of the message) equals its own: proof of identical canonicalisation.
    legacy = emulator.legacy(key_id, "wrong-secret")
    error = server_error(lambda: emulator.legacy_do(legacy, GetCallerIdentityRequest()))
    assert error.get_error_code() == "InvalidAccessKeySecret"
    assert error.get_http_status() == 400
    for v2 in (False, True):
        error = tea_error(lambda: emulator.sts(key_id, "wrong-secret", v2=v2).get_caller_identity())
        assert error.code == "SignatureDoesNotMatch"
        assert error.status_code == 400
        assert "server string to sign is:" in error.message
        assert ("ACS3-HMAC-SHA256" in error.message) is (not v2)


def test_unknown_key_is_not_found(emulator):
    for v2 in (False, True):
        error = tea_error(lambda: emulator.sts("LTAI5tDoesNotExist0000", "x", v2=v2).get_caller_identity())
        assert error.code == "InvalidAccessKeyId.NotFound"
        assert error.status_code == 404
    legacy = emulator.legacy("LTAI5tDoesNotExist0000", "x")
    error = server_error(lambda: emulator.legacy_do(legacy, GetCallerIdentityRequest()))
    assert error.get_error_code() == "InvalidAccessKeyId.NotFound"


def test_disabled_key_is_refused_and_can_be_enabled_again(emulator):
    name, key_id, secret = make_user(emulator, ACCOUNT_B)
    ims = emulator.ims(*ROOT[ACCOUNT_B])
    upn = f"{name}@account-b.onaliyun.com"
    ims.update_access_key(ims_models.UpdateAccessKeyRequest(
        user_principal_name=upn, user_access_key_id=key_id, status="Inactive"))
    error = tea_error(lambda: emulator.sts(key_id, secret).get_caller_identity())
    assert error.code == "InvalidAccessKeyId.Inactive"
    assert error.status_code == 400
    ims.update_access_key(ims_models.UpdateAccessKeyRequest(
        user_principal_name=upn, user_access_key_id=key_id, status="Active"))
    assert emulator.sts(key_id, secret).get_caller_identity().body.identity_type == "RAMUser"


def test_stale_and_future_timestamps_are_expired(emulator, monkeypatch):
    key = ROOT[ACCOUNT_B]
    for offset in (-16, 16):
        monkeypatch.setattr(legacy_helper, "get_iso_8061_date", lambda o=offset: _timestamp(o))
        error = server_error(lambda: emulator.legacy_do(emulator.legacy(*key), GetCallerIdentityRequest()))
        assert error.get_error_code() == "InvalidTimeStamp.Expired"
        monkeypatch.setattr(Utils, "get_timestamp", lambda o=offset: _timestamp(o))
        for v2 in (False, True):
            error = tea_error(lambda: emulator.sts(*key, v2=v2).get_caller_identity())
            assert error.code == "InvalidTimeStamp.Expired"
    # Inside the 15-minute window the same clients succeed.
    monkeypatch.setattr(legacy_helper, "get_iso_8061_date", lambda: _timestamp(-14))
    assert emulator.legacy_do(emulator.legacy(*key), GetCallerIdentityRequest())["AccountId"] == ACCOUNT_B
    monkeypatch.setattr(Utils, "get_timestamp", lambda: _timestamp(14))
    assert emulator.sts(*key).get_caller_identity().body.account_id == ACCOUNT_B


def test_reused_nonce_is_refused(emulator, monkeypatch):
    key = ROOT[ACCOUNT_B]
    nonce = unique("nonce")
    monkeypatch.setattr(legacy_helper, "get_uuid", lambda: nonce)
    client = emulator.legacy(*key)
    emulator.legacy_do(client, GetCallerIdentityRequest())
    error = server_error(lambda: emulator.legacy_do(client, GetCallerIdentityRequest()))
    assert error.get_error_code() == "SignatureNonceUsed"

    v3_nonce = unique("nonce")
    monkeypatch.setattr(Utils, "get_nonce", lambda: v3_nonce)
    emulator.sts(*key).get_caller_identity()
    error = tea_error(lambda: emulator.sts(*key).get_caller_identity())
    assert error.code == "SignatureNonceUsed"


def test_wrong_and_missing_security_tokens(emulator):
    _, key_id, secret = make_user(emulator, ACCOUNT_B, "AliyunSTSAssumeRoleAccess")
    role_arn = make_role(emulator, ACCOUNT_A)
    sts = emulator.sts(key_id, secret)
    first = sts.assume_role(sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="one")).body.credentials
    second = sts.assume_role(sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="two")).body.credentials
    error = tea_error(lambda: emulator.sts(first.access_key_id, first.access_key_secret,
                                           second.security_token).get_caller_identity())
    assert error.code == "InvalidSecurityToken.MismatchWithAccessKey"
    error = tea_error(lambda: emulator.sts(first.access_key_id, first.access_key_secret).get_caller_identity())
    assert error.code == "MissingSecurityToken"
    # A session's secret with its own token works with V2 and V3 alike.
    for v2 in (False, True):
        client = emulator.sts(second.access_key_id, second.access_key_secret, second.security_token, v2=v2)
        assert client.get_caller_identity().body.arn.endswith("/two")


def test_form_decoding_and_special_characters_round_trip(emulator):
    """Spaces (`+` in the Tea V2 query), `*`, `~`, `&`, `=`, `%`, `+` and UTF-8 survive signing
    and decoding with every client, in the query and in a form body."""
    description = "RabbitMQ role: a+b=c & 50% * ~ é 😀"
    root_a = root_legacy(emulator, ACCOUNT_A)
    from aliyunsdkcore.request import CommonRequest

    for flavour in ("legacy-query", "legacy-body", "tea-v2", "tea-v3"):
        name = unique("chars")
        arn = make_role(emulator, ACCOUNT_A)
        role_name = arn.rsplit("/", 1)[1]
        params = {"RoleName": role_name, "NewDescription": f"{description} {flavour}"}
        if flavour == "legacy-query":
            emulator.legacy_common(root_a, RAM, "UpdateRole", params)
        elif flavour == "legacy-body":
            request = CommonRequest()
            request.set_version(RAM)
            request.set_action_name("UpdateRole")
            request.set_method("POST")
            request.set_domain(emulator.endpoint)
            request.add_query_param("RoleName", role_name)
            request.add_body_params("NewDescription", f"{description} {flavour}")
            emulator.legacy_do(root_a, request)
        else:
            config = emulator.config(*ROOT[ACCOUNT_A], v2=flavour == "tea-v2")
            emulator.tea_call(config, RAM, "UpdateRole", params)
        got = emulator.legacy_common(root_a, RAM, "GetRole", {"RoleName": role_name})["Role"]
        assert got["Description"] == f"{description} {flavour}", name


def test_root_keys_cannot_assume_roles(emulator):
    role_arn = make_role(emulator, ACCOUNT_A)
    error = tea_error(lambda: emulator.sts(*ROOT[ACCOUNT_B]).assume_role(
        sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="root-try")))
    assert error.code == "NoPermission"
    assert error.status_code == 403
    assert "root" in error.message


def test_caller_identity_for_root_and_user(emulator):
    root = emulator.sts(*ROOT[ACCOUNT_B]).get_caller_identity().body
    assert (root.account_id, root.identity_type, root.arn) == (
        ACCOUNT_B, "Account", f"acs:ram::{ACCOUNT_B}:root")
    name, key_id, secret = make_user(emulator, ACCOUNT_B)
    user = emulator.sts(key_id, secret, v2=True).get_caller_identity().body
    assert user.identity_type == "RAMUser"
    assert user.arn == f"acs:ram::{ACCOUNT_B}:user/{name}"
    assert user.user_id == user.principal_id


def test_at_most_two_access_keys_per_user(emulator):
    name, _, _ = make_user(emulator, ACCOUNT_B)
    ims = emulator.ims(*ROOT[ACCOUNT_B])
    upn = f"{name}@account-b.onaliyun.com"
    ims.create_access_key(ims_models.CreateAccessKeyRequest(user_principal_name=upn))
    error = tea_error(lambda: ims.create_access_key(ims_models.CreateAccessKeyRequest(user_principal_name=upn)))
    assert error.code == "LimitExceeded.User.AccessKey"
    assert error.status_code == 409
    keys = ims.list_access_keys(ims_models.ListAccessKeysRequest(user_principal_name=upn)).body
    assert len(keys.access_keys.access_key) == 2


def test_deleted_key_stops_working(emulator):
    name, key_id, secret = make_user(emulator, ACCOUNT_B)
    assert emulator.sts(key_id, secret).get_caller_identity().body.identity_type == "RAMUser"
    emulator.legacy_common(root_legacy(emulator, ACCOUNT_B), RAM, "DeleteAccessKey",
                           {"UserName": name, "UserAccessKeyId": key_id})
    error = tea_error(lambda: emulator.sts(key_id, secret).get_caller_identity())
    assert error.code == "InvalidAccessKeyId.NotFound"
