"""A class on one endpoint (`serve --participants ... --class-dir DIR`).

- roster.py: participants: an account each, an administrator IAM user in it and the access
  key the endpoint issued, all kept in moto's IAM (so in the account state)
- files.py: the class folder: `<name>.env` per participant, `class.json` (0700/0600)
- gate.py: only issued credentials get in, refused as AWS refuses; no cross-account reach
- progress.py / view.py: the instructor's view, from each account's state and call counts
- server.py: `Classroom`, which ties them to the endpoint's WSGI app

docs/instructor.md ("A class on one endpoint") is the instructor's guide.
"""

from __future__ import annotations

from .roster import Participant, RosterError, parse_names
from .server import PREFIX, ClassError, Classroom

__all__ = ["PREFIX", "ClassError", "Classroom", "Participant", "RosterError", "parse_names"]
