"""Root's launcher of a sandbox: it ends as the zygote (or as bubblewrap running it), never as root's shell.

    launch.py CONFIG_JSON COMMAND...

CONFIG holds ``cgroups`` (``cgroup.procs`` files to join), ``reach`` and ``hide`` (paths made
reachable by any uid / hidden, in a mount namespace of its own: :func:`uids.private_view`) and
``uid`` (the unprivileged uid to become before the exec, or null to stay root: the zygote of
``--isolation none`` stays root and puts each runner under a uid of its own). What it could not
do is printed on stderr, one ``simgrade-launch:`` line each, for the grader's report.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uids  # noqa: E402

config = json.loads(sys.argv[1])
command = sys.argv[2:]
for procs in config["cgroups"]:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
try:
    done = uids.private_view(config["reach"], config["hide"])
except OSError as error:
    print(f"simgrade-launch: no private mount namespace ({error})", file=sys.stderr, flush=True)
else:
    if done:
        print(f"simgrade-launch: view: {'; '.join(done)}", file=sys.stderr, flush=True)
if config["uid"] is not None:
    uids.become(config["uid"])
os.execv(command[0], command)
