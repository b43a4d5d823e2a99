"""The instructor's view in headless Chromium: a row per participant,
steps ticked as their account does them, refreshing by itself, never a secret."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.exceptions import ClientError
from fidelity_support import ServeProcess, wrap

pytestmark = pytest.mark.browser
REGION = "eu-west-1"


def read_env(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def kms_of(env):
    return boto3.client(
        "kms",
        endpoint_url=env["KMS_WORKSHOP_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def test_instructor_view_follows_the_class(tmp_path):
    from browser_support import CHROMIUM_ARGS, chromium_or_skip
    from playwright.sync_api import sync_playwright

    chromium = chromium_or_skip()
    server = ServeProcess(
        "--state-dir",
        str(tmp_path / "state"),
        "--participants",
        "alice,bob",
        "--class-dir",
        str(tmp_path / "class"),
        stderr_path=str(tmp_path / "stderr"),
    )
    try:
        token = json.loads((tmp_path / "class" / "class.json").read_text())["token"]
        envs = {n: read_env(tmp_path / "class" / f"{n}.env") for n in ("alice", "bob")}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{server.url}/_workshop/class?token={token}")
            page.wait_for_selector("tr[data-participant='bob']", timeout=15000)
            alice_row = "tr[data-participant='alice']"
            assert page.locator(f"{alice_row} td.done").count() == 0

            # alice works through the core steps; the page must follow without a reload
            kms = kms_of(envs["alice"])
            key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
            params = kms.get_parameters_for_import(
                KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
            )
            kms.import_key_material(
                KeyId=key_id,
                ImportToken=params["ImportToken"],
                EncryptedKeyMaterial=wrap(params["PublicKey"], os.urandom(32)),
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
            )
            context = {"purpose": "view-test"}
            data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
            with pytest.raises(ClientError):
                kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])
            kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context)
            kms.encrypt(KeyId=key_id, Plaintext=b"direct", EncryptionContext=context)

            for step in ("imported", "data_key", "refused", "decrypted", "direct"):
                page.wait_for_selector(f"{alice_row} td.done[data-step='{step}']", timeout=15000)
            assert page.locator(f"{alice_row} td[data-step='volume']").get_attribute("class") == "todo"
            assert page.locator("tr[data-participant='bob'] td.done").count() == 0

            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
            page.wait_for_selector(f"{alice_row} td.done[data-step='cleaned']", timeout=15000)

            shown = page.content()
            for env in envs.values():
                assert env["AWS_SECRET_ACCESS_KEY"] not in shown
                assert env["AWS_ACCESS_KEY_ID"] not in shown
            assert data_key["Plaintext"].hex() not in shown
            status = page.evaluate(
                """async (token) => (await fetch('/_workshop/class/status',
                {headers: {'X-Kms-Workshop-Token': token}})).text()""",
                token,
            )
            for env in envs.values():
                assert env["AWS_SECRET_ACCESS_KEY"] not in status and env["AWS_ACCESS_KEY_ID"] not in status

            denied = browser.new_page()
            response = denied.goto(f"{server.url}/_workshop/class?token=wrong")
            assert response.status == 403
            browser.close()
    finally:
        assert server.stop() == 0
