"""A real PostgreSQL server on loopback only, for the audit-log tests and
tools/bench/bench_audit.py.

    pg = PostgresServer()          # initdb + pg_ctl from /usr/lib/postgresql/*/bin
    pg.url                         # postgresql://potkit@127.0.0.1:PORT/postgres
    url = pg.new_database()        # a fresh, empty database of its own
    pg.sql("ALTER SYSTEM ...")     # one statement as the superuser (autocommit)
    pg.stop()

The cluster lives in a temp dir, listens on 127.0.0.1 and a free port (its
Unix socket in the same dir), trusts local connections (test data only) and
keeps fsync on, as a deployment would. Run as root (tests in CI are), the
server runs as the unprivileged `postgres` user the Debian package creates
(PostgreSQL refuses to run as root). Needs the `postgresql` package
(tools/setup_system.sh).
"""
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

LOOPBACK = "127.0.0.1"
_names = itertools.count(1)


def _bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not dirs:
        raise RuntimeError("PostgreSQL is not installed (the Debian package postgresql; tools/setup_system.sh)")
    return dirs[-1]


def _free_port():
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PostgresServer:
    def __init__(self):
        self.bindir = _bindir()
        self.dir = tempfile.mkdtemp(prefix="potkit-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self._demote = None
        env = dict(os.environ, LC_ALL="C")
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

            def demote():
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)

            self._demote = demote
            env["HOME"] = self.dir
        self.env = env
        self._run(["initdb", "-D", self.data, "-U", "potkit", "--auth=trust", "-E", "UTF8", "--no-sync"])
        self.port = _free_port()
        opts = "-c listen_addresses=%s -p %d -k %s -c fsync=on -c max_connections=50" % (LOOPBACK, self.port, self.dir)
        self._run(["pg_ctl", "-D", self.data, "-l", self.logfile, "-o", opts, "-w", "-t", "60", "start"])
        self.url = "postgresql://potkit@%s:%d/postgres" % (LOOPBACK, self.port)

    def _run(self, argv):
        argv = [os.path.join(self.bindir, argv[0])] + argv[1:]
        r = subprocess.run(argv, env=self.env, preexec_fn=self._demote, cwd=self.dir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode:
            log = ""
            if os.path.exists(self.logfile):
                with open(self.logfile) as f:
                    log = f.read()[-2000:]
            raise RuntimeError("%s failed (%d): %s %s" % (argv[0], r.returncode, r.stdout[-2000:], log))

    def sql(self, statement, url=None):
        import psycopg

        with psycopg.connect(url or self.url, autocommit=True) as c:
            cur = c.execute(statement)
            return cur.fetchall() if cur.description else None

    def new_database(self):
        name = "potkit_test_%d_%d" % (os.getpid(), next(_names))
        self.sql("CREATE DATABASE %s" % name)
        return "postgresql://potkit@%s:%d/%s" % (LOOPBACK, self.port, name)

    def stop(self):
        if os.path.exists(self.data):
            try:
                self._run(["pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
            except RuntimeError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
