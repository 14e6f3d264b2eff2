"""Small builders for the emulator interop tests: users with keys and roles with policies,
created through the official SDKs with root keys."""

from __future__ import annotations

from emulator_fixtures import IMS, RAM, ROOT, Emulator, root_legacy, trust_policy, unique


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
    name = unique("policy")
    emulator.legacy_common(root_legacy(emulator, account), RAM, "CreatePolicy",
                           {"PolicyName": name, "PolicyDocument": document})
    return name


__all__ = ["make_user", "make_role", "make_policy", "IMS", "RAM", "ROOT"]
