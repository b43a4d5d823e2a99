"""What a new learner trips on, each pinned by a test: hints that name what the notebook
defines, invitations that work after Run All, exercises that refuse what the lesson warns
against, a playground that sends exactly what was typed, solutions that say how to use
them, hex dumps that fit a narrow output area."""

from __future__ import annotations

import html as html_lib
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from unittest import mock

import nbformat
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from notebook_support import NOTEBOOKS
from workshop_run import code_cell, copy_notebooks, execute, kernel_env

from workshop_helpers import checks, fixtures
from workshop_helpers.display import compare_bytes
from workshop_helpers.widgets.context_playground import context_from_pairs, try_decrypt

SOLUTIONS = NOTEBOOKS / "solutions"


def _notebook(name: str):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _cell(nb, cell_id: str):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _solution(name: str):
    spec = importlib.util.spec_from_file_location(f"learner_solution_{name}", SOLUTIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ws(moto_workshop, monkeypatch, tmp_path):
    monkeypatch.delenv("KMS_WORKSHOP_PARTICIPANT", raising=False)
    monkeypatch.setenv("KMS_WORKSHOP_DATA_DIR", str(tmp_path / "workshop-data"))
    fixtures.ensure_imported_cmk(moto_workshop)
    return moto_workshop


# --- 02: after Run All, the exercise's hint and the reveal invitation work as written ------

REVEAL_CODE = re.compile(r"`([^`]*reveal\([^`]*)`")


def _reveal_invitation() -> str:
    text = "\n".join(c.source for c in _notebook("02-generate-data-key.ipynb").cells if c.cell_type == "markdown")
    found = REVEAL_CODE.search(text)
    assert found, "notebook 02 no longer invites the learner to reveal a data key"
    code = found.group(1)
    if "import reveal" not in code:
        code = "from workshop_helpers.display import reveal\n" + code
    return code


def _solution_usage(name: str) -> str:
    """The indented lines of a solution's docstring that say how to use it."""
    doc = _solution(name).__doc__
    lines = [line[4:] for line in doc.splitlines() if line.startswith("    ")]
    return "\n".join(lines) or f"raise AssertionError({name!r} + '.py: the docstring shows no code to run')"


def test_02_after_run_all_the_hint_the_invitation_and_the_solution_work(tmp_path):
    name = "02-generate-data-key.ipynb"
    copy = copy_notebooks(tmp_path / "notebooks", [name])
    nb = nbformat.read(copy / name, as_version=4)
    probes = [
        # the check's hint and the exercise name `kms` and `kms_as_role`: both exist and work
        "hint = check_data_key_exercise(None).message\n"
        "assert 'kms.generate_data_key' in hint, hint\n"
        "for client in (kms, kms_as_role):\n"
        "    answer = client.generate_data_key(KeyId=key.alias, KeySpec='AES_128',\n"
        "                                      EncryptionContext={'project': 'workshop', 'team': 'blue'})\n"
        "    assert check_data_key_exercise(answer), check_data_key_exercise(answer).message\n",
        # the invitation to see a whole data key, run as written, after Run All
        _reveal_invitation(),
        "import base64\nassert len(base64.b64decode(Out[len(In) - 2])) == 32\n",
        # the solution, used as its docstring says
        _solution_usage("ex02_data_key") + "\nassert check_data_key_exercise(my_response)\n",
    ]
    cells = [code_cell(p, tag="learner-probe") for p in probes]
    for cell in cells:
        cell.metadata["tags"].append("raises-exception")  # run every probe, report each
    nb.cells += cells
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    execute(nb, copy, kernel_env(run_dir))
    failed = []
    for cell in cells:
        failed += [
            f"{cell.source.splitlines()[0]!r}: {o['ename']}: {o['evalue']}"
            for o in cell.get("outputs", [])
            if o.get("output_type") == "error"
        ]
    assert not failed, "\n".join(failed)


# --- 03: a fixed nonce is not "Correct" ---------------------------------------------------


@pytest.mark.parametrize("nonce", [bytes(12), b"\x01" * 12])
def test_03_fixed_nonce_is_refused_with_one_line(nonce):
    key = os.urandom(32)
    sealed = nonce + AESGCM(key).encrypt(nonce, checks.EXERCISE_03_MESSAGE, None)
    result = checks.check_hand_encryption(sealed, key)
    assert not result
    assert repr(result).startswith("Not yet: ") and "\n" not in result.message
    assert "fixed" in result.message and "os.urandom(12)" in result.message


def test_03_fresh_nonce_still_passes():
    key = os.urandom(32)
    nonce = os.urandom(12)
    assert checks.check_hand_encryption(nonce + AESGCM(key).encrypt(nonce, checks.EXERCISE_03_MESSAGE, None), key)


# --- 04: the playground sends exactly what was typed, and says when it sent nothing -------


@pytest.fixture
def data_key_blob(ws):
    kms = ws.client("kms")
    out = kms.generate_data_key(
        KeyId=fixtures.ensure_imported_cmk(ws).alias, KeySpec="AES_256", EncryptionContext={"project": "workshop"}
    )
    return kms, out["CiphertextBlob"]


@pytest.mark.parametrize("pairs", [[("project ", "workshop")], [(" project", "workshop")], [("project", "workshop ")]])
def test_04_playground_keeps_spaces_as_typed(data_key_blob, pairs):
    kms, blob = data_key_blob
    assert context_from_pairs(pairs) == dict(pairs)
    result = try_decrypt(kms, blob, pairs)
    assert not result.ok and result.code == "InvalidCiphertextException"
    assert repr(pairs[0][0] if pairs[0][0] != "project" else pairs[0][1]) in result.text()  # the space shows


@pytest.mark.parametrize("pairs", [[("", "workshop")], [("   ", "workshop")], [("a", "1"), ("a", "2")]])
def test_04_playground_says_nothing_was_sent(pairs):
    kms = mock.Mock()
    result = try_decrypt(kms, b"blob", pairs)
    assert kms.decrypt.call_count == 0
    assert not result.ok and not result.sent
    text = result.text()
    assert text.startswith("Nothing was sent to KMS: ") and "Refused" not in text and "\n" not in text
    assert "Refused" not in result.html() and "Nothing was sent to KMS" in result.html()


# --- solutions: each says how to use it, and works as it says ------------------------------


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("ex*.py")), ids=lambda p: p.stem)
def test_each_solution_says_how_to_use_it(path):
    doc = _solution(path.stem).__doc__
    assert "How to use it" in doc or "How to use it in notebook" in doc
    assert f"from solutions.{path.stem} import " in doc
    assert f"%load solutions/{path.name}" in doc
    code = _solution_usage(path.stem)
    assert "AssertionError" not in code and re.search(r"\bcheck_\w+\(", code), (
        f"{path.name}: the usage does not end with the notebook's check"
    )


def test_solutions_readme_says_how_to_use_them():
    text = (SOLUTIONS / "README.md").read_text()
    assert "## How to use a solution" in text and "from solutions." in text and "%load solutions/" in text


def test_06_solution_works_when_imported(ws, monkeypatch):
    """Imported (not pasted), the solution has no notebook `client` and `provider`."""
    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    sys.modules.pop("solutions.ex06_decrypt_expecting", None)
    from solutions.ex06_decrypt_expecting import decrypt_expecting  # as its docstring says

    key = fixtures.ensure_imported_cmk(ws)
    result = checks.check_decrypt_expecting(decrypt_expecting, key_arn=key.arn)
    assert result, result.message


# --- hex dumps: never clipped beside the file browser --------------------------------------


def test_hex_dump_wraps_whole_half_rows():
    html = compare_bytes(b"Meet me at the lighthouse at midnight. " * 3, os.urandom(80))._repr_html_()
    dumps = re.findall(r"<div class='kms-hexdump'[^>]*style='([^']*)'>(.*?)</div>", html)
    assert len(dumps) == 2
    for style, inner in dumps:
        # half rows side by side where two fit (16 bytes a row), one under the other where not
        assert "flex-wrap:wrap" in style and "max-width:calc(84ch" in style
        rows = [html_lib.unescape(r) for r in re.findall(r"<pre[^>]*>([^<]*)</pre>", inner)]
        assert len(rows) == 8  # 64 bytes shown, 8 a row
        for row in rows:
            assert len(row) <= 41 and row.endswith("|"), row  # offset, hex and text stay together


# --- the aws backend: an overridden endpoint is named, doctor names every endpoint ---------

ROOT = NOTEBOOKS.parent


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env.update(
        KMS_WORKSHOP_STATE_DIR="memory",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    env.update(extra)
    return env


def _aws_on(url: str, *, kms_only: bool = False) -> dict[str, str]:
    """The aws backend's environment with its requests sent to the local endpoint `url`."""
    where = {"AWS_ENDPOINT_URL_KMS": url, "AWS_ENDPOINT_URL_STS": url} if kms_only else {"AWS_ENDPOINT_URL": url}
    return _clean_env(
        KMS_WORKSHOP_BACKEND="aws",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="eu-west-1",
        **where,
    )


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("kms_only", [False, True], ids=["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"])
def test_aws_backend_on_another_endpoint_names_it_wherever_it_said_real_aws(fidelity_endpoint, kms_only):
    done = _python(
        """
        import workshop_helpers
        from workshop_helpers import fixtures
        ws = workshop_helpers.connect()
        fixtures.announce(ws)
        print("HTML:", ws._repr_html_())
        print("DESCRIBE:", ws.describe())
        """,
        _aws_on(fidelity_endpoint.url, kms_only=kms_only),
    )
    assert done.returncode == 0, done.stderr
    variable = "AWS_ENDPOINT_URL_KMS" if kms_only else "AWS_ENDPOINT_URL"
    announced, html, described = done.stdout.split("HTML:")[0], *done.stdout.split("HTML:")[1].split("DESCRIBE:")
    for text in (announced, html, described):
        assert "REAL AWS" not in text and fidelity_endpoint.url in text and variable in text, text
    assert announced.startswith("AWS BACKEND, ENDPOINT OVERRIDDEN: KMS requests go to ")


def test_aws_backend_on_aws_itself_still_says_real_aws(moto_workshop):
    from dataclasses import replace

    aws = replace(moto_workshop, backend="aws", endpoint_url=None)
    assert aws.endpoint_override() is None  # a client made for eu-west-1 goes to kms.eu-west-1.amazonaws.com
    assert "REAL AWS" in aws._repr_html_()
    assert aws.endpoint_in_use() == "https://kms.eu-west-1.amazonaws.com (AWS)"


def _doctor(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "workshop_helpers", "doctor"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("endpoint ")]
    assert len(lines) == 1, done.stdout
    return lines[0]


def test_doctor_shows_the_endpoint_in_use_on_every_backend(fidelity_endpoint):
    assert "moto answers inside this process" in _doctor(_clean_env())
    assert fidelity_endpoint.url in _doctor(
        _clean_env(KMS_WORKSHOP_BACKEND="endpoint", KMS_WORKSHOP_ENDPOINT_URL=fidelity_endpoint.url)
    )
    line = _doctor(_aws_on(fidelity_endpoint.url, kms_only=True))
    assert fidelity_endpoint.url in line and "AWS_ENDPOINT_URL_KMS" in line


# --- no notebook stops to ask: IAM changes on aws are chosen by KMS_WORKSHOP_IAM ------------


def test_no_notebook_calls_input():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        code = "\n".join(c.source for c in _notebook(path.name).cells if c.cell_type == "code")
        assert not re.search(r"(?<![\w.])input\(", code), f"{path.name} calls input()"


@pytest.mark.parametrize("value,allowed", [(None, False), ("no", False), ("yes", True)])
def test_iam_changes_on_aws_follow_the_variable_without_asking(moto_workshop, monkeypatch, capsys, value, allowed):
    from dataclasses import replace

    monkeypatch.setattr("builtins.input", lambda prompt="": pytest.fail("a notebook must never ask"))
    if value is None:
        monkeypatch.delenv("KMS_WORKSHOP_IAM", raising=False)
    else:
        monkeypatch.setenv("KMS_WORKSHOP_IAM", value)
    assert fixtures.may_change_iam(replace(moto_workshop, backend="aws")) is allowed
    if not allowed:  # one line saying what happened and how to change it
        said = capsys.readouterr().out.strip().splitlines()
        assert len(said) == 1 and "KMS_WORKSHOP_IAM=yes" in said[0]


def test_a_bad_iam_choice_is_one_clear_line(moto_workshop, monkeypatch):
    from dataclasses import replace

    from workshop_helpers.errors import WorkshopError

    monkeypatch.setenv("KMS_WORKSHOP_IAM", "maybe")
    with pytest.raises(WorkshopError, match=r"KMS_WORKSHOP_IAM='maybe' is neither yes nor no"):
        fixtures.may_change_iam(replace(moto_workshop, backend="aws"))


@pytest.mark.parametrize("name", ["01-setup-imported-cmk.ipynb", "02-generate-data-key.ipynb"])
def test_notebooks_say_how_iam_is_chosen_on_aws(name):
    text = "\n".join(c.source for c in _notebook(name).cells if c.cell_type == "markdown")
    assert "KMS_WORKSHOP_IAM=yes" in text or "`KMS_WORKSHOP_IAM` is `yes`" in text


# --- the production path: the SDK beside every hand-made envelope step ----------------------

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _markdown(name: str) -> str:
    return "\n".join(c.source for c in _notebook(name).cells if c.cell_type == "markdown")


def _python_blocks(name: str) -> list[str]:
    # blocks inside a quote ("> ") lose their quote marks first
    text = re.sub(r"(?m)^> ?", "", _markdown(name))
    return [block for block in PYTHON_BLOCK.findall(text)]


@pytest.mark.parametrize(
    "name", ["03-encrypt-with-data-key.ipynb", "04-decrypt.ipynb", "06-client-side-encryption.ipynb"]
)
def test_hand_made_envelope_notebooks_point_to_the_sdk(name):
    text = _markdown(name)
    assert "workshop_helpers.envelope" in text and "show the bytes" in text
    assert "AWS Encryption SDK" in text
    if name != "06-client-side-encryption.ipynb":  # 06 is the SDK's own notebook
        assert "In production, do not write this by hand." in text
        assert re.search(r"server[- ]side", text)  # the other production path
    for block in _python_blocks(name):
        compile(block, name, "exec")


def test_the_sdk_snippets_run_as_written(ws, tmp_path):
    """03's snippets encrypt (one call, then streaming a file); 04's decrypts 03's message."""
    secret_file = tmp_path / "samplesecret.txt"
    secret_file.write_bytes(b"Meet me at the lighthouse.\n")
    namespace = {
        "key": fixtures.ensure_imported_cmk(ws),
        "plaintext": secret_file.read_bytes(),
        "secret_file": secret_file,
        "data_dir": tmp_path,
    }
    encrypting = _python_blocks("03-encrypt-with-data-key.ipynb")
    decrypting = _python_blocks("04-decrypt.ipynb")
    assert any("client.encrypt(" in b for b in encrypting) and any("client.stream(" in b for b in encrypting)
    assert any("client.decrypt(" in b for b in decrypting)
    for block in encrypting:
        exec(compile(block, "notebook 03", "exec"), namespace)
    assert (tmp_path / "samplesecret.txt.sdk").stat().st_size > len(namespace["plaintext"])
    namespace["plaintext"] = None
    for block in decrypting:
        exec(compile(block, "notebook 04", "exec"), namespace)
    assert namespace["plaintext"] == secret_file.read_bytes()


# --- links to the AWS documentation: well formed, and only pages checked to exist -----------

ALLOWED_HOSTS = {"docs.aws.amazon.com"}
#: Pages found with a documentation search before they were linked (no network here).
VERIFIED_PAGES = {
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-conceptual.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/services-ebs.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/services-s3.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-scheduling-key-deletion.html",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
    "https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html",
    "https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/python.html",
    "https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/data-key-caching.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteImportedKeyMaterial.html",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/list-rotations.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html",
    "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html",
}
LINK = re.compile(r"\]\(([^)]*)\)|(?<![(\w])(https?://\S+)")
WORKSHOP = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def _external_links(name: str) -> list[str]:
    found = []
    for target, bare in LINK.findall(_markdown(name)):
        url = target or bare
        if re.match(r"[a-z]+:", url):  # relative links (other notebooks, solutions/) are not pages
            found.append(url)
    return found


@pytest.mark.parametrize("name", WORKSHOP)
def test_every_link_is_a_verified_aws_documentation_page(name):
    from urllib.parse import urlparse

    links = _external_links(name)
    assert len(links) >= 2, f"{name} links to no AWS documentation"
    for url in links:
        parts = urlparse(url)
        assert parts.scheme == "https", url
        assert parts.hostname in ALLOWED_HOSTS, url
        assert " " not in url and not parts.query and parts.path.endswith(".html"), url
        assert url in VERIFIED_PAGES, f"{name}: {url} is not among the pages checked to exist"


def test_each_lesson_links_what_it_taught():
    wanted = {
        "01-setup-imported-cmk.ipynb": ["API_ImportKeyMaterial", "importing-keys"],
        "02-generate-data-key.ipynb": ["API_GenerateDataKey", "encrypt_context", "key-policies"],
        "03-encrypt-with-data-key.ipynb": ["API_GenerateDataKey", "message-format"],
        "04-decrypt.ipynb": ["API_Decrypt", "encrypt_context"],
        "05-server-side-encryption.ipynb": ["services-ebs", "UsingKMSEncryption"],
        "06-client-side-encryption.ipynb": ["message-format", "data-key-caching"],
        "07-direct-encryption.ipynb": ["API_Encrypt", "conditions-kms"],
        "08-byok-rotation.ipynb": ["API_ImportKeyMaterial", "API_RotateKeyOnDemand", "API_ListKeyRotations"],
        "08-cleanup.ipynb": ["API_ScheduleKeyDeletion"],
    }
    for name, pages in wanted.items():
        links = " ".join(_external_links(name))
        for page in pages:
            assert page in links, f"{name} does not link {page}"
        assert "**Learn more in the AWS documentation**" in _markdown(name)


# --- optional deep dives, saving, and the two paths through the workshop --------------------


@pytest.mark.parametrize(
    "name,sections",
    [
        ("01-setup-imported-cmk.ipynb", ["## 4. Optional: generate and wrap your key material (BYOK internals)"]),
        ("03-encrypt-with-data-key.ipynb", ["## 7. Optional: openssl", "## 8. Optional: the envelope helper"]),
        (
            "06-client-side-encryption.ipynb",
            [
                "## 4. Optional: inside the message (message anatomy)",
                "## 9. Optional: two implementations, one format",
                "## 10. Optional: data key caching",
            ],
        ),
    ],
)
def test_deep_dives_are_marked_optional_in_heading_and_steps(name, sections):
    text = _markdown(name)
    for heading in sections:
        assert heading in text, heading
        step = heading.split(". ", 1)[0].removeprefix("## ") + ". Optional: "
        assert step in text, f"{name}: the Steps list does not mark {heading!r} optional"


@pytest.mark.parametrize("name", WORKSHOP)
def test_a_save_note_opens_every_exercise(name):
    nb = _notebook(name)
    exercises = [
        c.source for c in nb.cells if c.cell_type == "markdown" and re.search(r"(?m)^## \d+\. Exercises?$", c.source)
    ]
    assert exercises, f"{name} has no exercise heading"
    for source in exercises:
        after = source[re.search(r"(?m)^## \d+\. Exercises?$", source).end() :]
        assert after.lstrip().startswith("> **Save your work** with Ctrl+S (Cmd+S on a Mac)"), name


def test_readme_and_instructor_guide_give_a_core_and_a_full_path():
    for doc in (ROOT / "README.md", ROOT / "docs" / "instructor.md"):
        text = doc.read_text()
        assert "core path" in text.lower() and "about 60 minutes" in text, doc.name
        assert "full path" in text.lower(), doc.name


def test_a_workshop_without_a_session_reads_the_override_from_the_environment(monkeypatch):
    from workshop_helpers import backend

    ws = backend.Workshop("aws", "eu-west-3", "123456789012", "arn:aws:iam::123456789012:user/me", None, None)
    monkeypatch.delenv("AWS_ENDPOINT_URL_KMS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert ws.endpoint_override() is None and "REAL AWS" in ws._repr_html_()
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4566")
    assert ws.endpoint_override() == "http://127.0.0.1:4566 (from AWS_ENDPOINT_URL_KMS)"
    assert "REAL AWS" not in ws._repr_html_() and "127.0.0.1:4566" in ws._repr_html_()


def test_the_ebs_note_names_an_overridden_endpoint(moto_workshop, monkeypatch):
    from dataclasses import replace

    from workshop_helpers import backend, ebs

    aws = replace(moto_workshop, backend="aws", session=None)
    monkeypatch.setattr(backend, "_active", aws)
    volume = ebs.SimulatedVolume("vol-0123456789abcdef0", "alias/ImportedCMK", "arn", {}, simulated=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_KMS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert volume._note().startswith("Real AWS: ")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert "Real AWS" not in volume._note() and "127.0.0.1:4566 (from AWS_ENDPOINT_URL)" in volume._note()
