"""Run student code in a sandbox; only plain data comes back.

One :class:`Sandbox` per grading process (``zygote.py``): it starts a zygote (``inside/worker.py``)
under bubblewrap (``bwrap.py``), which imports torch once while the grader does its own work; as
root, inside a cgroup (``cgroup.py``) and as a dedicated unprivileged uid. Each submission gets a
:class:`Session` (``session.py``): a runner forked from the zygote, in its own namespaces, with the
limits of :mod:`simgrade.sandbox.limits`, holding a private copy of the submission.
"""
from simgrade.sandbox.bwrap import project_secrets
from simgrade.sandbox.session import Session, plain_reply
from simgrade.sandbox.zygote import Sandbox, SandboxError

__all__ = ["Sandbox", "SandboxError", "Session", "plain_reply", "project_secrets"]
