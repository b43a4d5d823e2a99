"""`python -m workshop_helpers class`: manage a class on a running endpoint.

`class add NAME --class-dir DIR` asks the running class endpoint (`serve --participants
... --class-dir DIR`) to add a participant: it reads the endpoint's URL and the instructor
token from DIR/class.json and calls the endpoint's instructor route, which creates the
account, the administrator user and its key inside the endpoint's own account state and
writes DIR/NAME.env. No restart; the endpoint is the only writer of its class.
`class status --class-dir DIR` prints what the instructor's view shows, as JSON lines.
"""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.parse
import urllib.request

from ..errors import WorkshopError

HELP = "manage a class on a running class endpoint (add a participant, show progress)"


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="class_command", metavar="ACTION")
    sub.required = True
    add = sub.add_parser("add", help="add a participant to the running class endpoint (no restart)")
    add.add_argument("names", metavar="NAME", nargs="+")
    add.add_argument("--class-dir", metavar="DIR", required=True, help="the --class-dir the endpoint was started with")
    status = sub.add_parser("status", help="print each participant's progress (what the instructor's view shows)")
    status.add_argument(
        "--class-dir", metavar="DIR", required=True, help="the --class-dir the endpoint was started with"
    )
    url = sub.add_parser("url", help="print the instructor's view URL (it contains the instructor token)")
    url.add_argument("--class-dir", metavar="DIR", required=True, help="the --class-dir the endpoint was started with")


def _class(directory: str) -> dict:
    # deferred: the classroom package imports moto (~0.3 s), which only 'class' and 'serve --class' need
    from ..classroom import files

    path = pathlib.Path(directory).expanduser()
    data = files.load_class(path)
    if not data.get("url") or not data.get("token"):
        raise WorkshopError(
            f"no class in {directory} ({files.CLASS_FILE} missing): start one with "
            f"`python -m workshop_helpers serve --participants NAMES --class-dir {directory}`"
        )
    return data


def _call(data: dict, method: str, route: str, body: dict | None = None) -> tuple[int, dict]:
    # deferred: the classroom package imports moto (~0.3 s), which only 'class' and 'serve --class' need
    from ..classroom import PREFIX

    encoded = urllib.parse.urlencode(body).encode() if body is not None else None
    request = urllib.request.Request(
        data["url"] + PREFIX + route, data=encoded, method=method, headers={"X-Kms-Workshop-Token": data["token"]}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read() or b"{}").get("error") or exc.reason
        except ValueError:
            message = exc.reason
        raise WorkshopError(f"the class endpoint refused: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WorkshopError(
            f"cannot reach the class endpoint at {data['url']} ({getattr(exc, 'reason', exc)}); "
            "is `serve --participants ...` running?"
        ) from None


def run(args) -> int:
    data = _class(args.class_dir)
    if args.class_command == "url":
        # deferred: the classroom package imports moto (~0.3 s), which only 'class' and 'serve --class' need
        from ..classroom import PREFIX

        print(f"{data.get('public_url') or data['url']}{PREFIX}?token={data['token']}")
        return 0
    if args.class_command == "status":
        _, status = _call(data, "GET", "/status")
        labels = [s["id"] for s in status["steps"]]
        for p in status["participants"]:
            done = [s for s in labels if p["steps"].get(s)]
            print(
                json.dumps(
                    {
                        "name": p["name"],
                        "account_id": p["account_id"],
                        "done": done,
                        "calls": p["calls"],
                        "errors": p["errors"],
                    }
                )
            )
        return 0
    for name in args.names:
        code, answer = _call(data, "POST", "/participants", {"name": name})
        what = "added" if answer.get("created") else "already in the class"
        print(f"{answer['name']}: {what}, account {answer['account_id']}, env file {answer['env_file']}")
    return 0
