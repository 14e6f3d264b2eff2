"""`--state-file`: the binary saves its state on SIGTERM and loads it on the next start, so
roles and user keys created through the SDK survive a restart."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request

from emulator_fixtures import (  # noqa: F401
    ACCOUNT_A,
    ACCOUNT_B,
    RAM,
    ROOT,
    Emulator,
    _binary,
    _free_port,
    root_legacy,
    trust_policy,
)


def _start(workdir, accounts_file, state_file):
    port = _free_port()
    process = subprocess.Popen(
        [str(_binary()), "emulator", "--listen", f"127.0.0.1:{port}",
         "--accounts", str(accounts_file), "--state-file", str(state_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    emulator = Emulator(port, None, workdir)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(emulator.base + "/_emulator/health", timeout=2):
                return process, emulator
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("emulator did not start")
            time.sleep(0.1)


def _stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_state_survives_restart(tmp_path):
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text(json.dumps({"accounts": [
        {"id": account, "accessKeys": [{"id": ROOT[account][0], "secret": ROOT[account][1]}]}
        for account in (ACCOUNT_A, ACCOUNT_B)
    ]}))
    state_file = tmp_path / "state.json"
    process, emulator = _start(tmp_path, accounts_file, state_file)
    try:
        root_a = root_legacy(emulator, ACCOUNT_A)
        emulator.legacy_common(root_a, RAM, "CreateRole", {
            "RoleName": "kept", "AssumeRolePolicyDocument": trust_policy(f"acs:ram::{ACCOUNT_B}:root")})
        root_b = root_legacy(emulator, ACCOUNT_B)
        emulator.legacy_common(root_b, RAM, "CreateUser", {"UserName": "kept-user"})
        key = emulator.legacy_common(root_b, RAM, "CreateAccessKey", {"UserName": "kept-user"})["AccessKey"]
    finally:
        _stop(process)
    assert state_file.exists()

    process, emulator = _start(tmp_path, accounts_file, state_file)
    try:
        role = emulator.legacy_common(root_legacy(emulator, ACCOUNT_A), RAM, "GetRole", {"RoleName": "kept"})
        assert role["Role"]["Arn"] == f"acs:ram::{ACCOUNT_A}:role/kept"
        # Without an alias the default domain is <id>.onaliyun.com.
        assert emulator.account_state(ACCOUNT_B)["defaultDomain"] == f"{ACCOUNT_B}.onaliyun.com"
        identity = emulator.sts(key["AccessKeyId"], key["AccessKeySecret"]).get_caller_identity().body
        assert identity.arn == f"acs:ram::{ACCOUNT_B}:user/kept-user"
    finally:
        _stop(process)
