"""A loopback Hugging Face Hub for tests: the endpoints huggingface_hub's downloads use.

Serves model repos held in memory to the real huggingface_hub client:

- HEAD/GET {endpoint}/{org}/{repo}/resolve/{revision}/{path}: ETag (the file's sha256, like
  LFS files), X-Repo-Commit, Content-Length, Accept-Ranges; GET honours `Range: bytes=N-`.
  Unknown repo: 401 RepoNotFound; unknown revision: 404 RevisionNotFound; unknown file: 404
  EntryNotFound with X-Repo-Commit (as the Hub answers).
- GET /api/models/{org}/{repo}/revision/{revision}: {"id", "sha", "siblings"}.
- GET /api/models/{org}/{repo}/tree/{revision}[/{path}]?recursive=...: the file list.

Bounded: binds 127.0.0.1 only, serves at most `max_requests` requests and files of at most
`max_file_bytes`, each connection times out after `timeout` seconds; `stop()` (or the context
manager) shuts it down and joins its thread. Fault injection for tests: `interrupt(repo_id,
filename, times)` cuts the next GETs of a file short (the first after half the body, later
resumptions with nothing), `tamper(...)` replaces a file's bytes in place, `trickle(repo_id,
filename, delay)` sends a file's body one byte every `delay` seconds, `oversend(repo_id,
filename, extra)` answers HEAD with the true size and GET with `extra` more bytes. The
Authorization header of every request is kept in `authorizations` (method, path, header or None).
"""
import time
import hashlib
import http.server
import json
import socket
import threading
import urllib.parse


class HubServer:
    def __init__(self, *, max_requests=2000, max_file_bytes=256 << 20, timeout=10.0):
        self.repos = {}  # repo_id -> {"commits": {sha: {path: bytes}}, "refs": {name: sha}, "order": [sha]}
        self.requests = []  # (method, path, range header)
        self.max_requests = max_requests
        self.max_file_bytes = max_file_bytes
        self.timeout = timeout
        self.authorizations = []  # (method, path, Authorization header or None)
        self._interrupts = {}  # (repo_id, filename) -> remaining interrupted GETs
        self._trickles = {}  # (repo_id, filename) -> seconds between bytes
        self._oversends = {}  # (repo_id, filename) -> extra bytes sent by GET
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # -- repository contents ------------------------------------------------------------------
    def commit(self, repo_id, files, *, revision="main"):
        """Add a commit holding `files` ({path: bytes}, the whole tree) on branch `revision`.

        Returns the new commit's 40-hex sha.
        """
        tree = {}
        for path, data in files.items():
            data = bytes(data)
            if len(data) > self.max_file_bytes:
                raise ValueError(f"{path}: {len(data)} bytes is over this server's limit")
            tree[str(path)] = data
        with self._lock:
            repo = self.repos.setdefault(repo_id, {"commits": {}, "refs": {}, "order": []})
            digest = hashlib.sha1(repo_id.encode())
            digest.update(str(len(repo["order"])).encode())
            for path in sorted(tree):
                digest.update(path.encode() + b"\0" + hashlib.sha256(tree[path]).digest())
            sha = digest.hexdigest()
            repo["commits"][sha] = tree
            repo["order"].append(sha)
            repo["refs"][revision] = sha
        return sha

    def commit_folder(self, repo_id, folder, *, revision="main"):
        """Commit every file below a local folder (as upload_folder would)."""
        import pathlib

        folder = pathlib.Path(folder)
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        return self.commit(repo_id, files, revision=revision)

    def tamper(self, repo_id, filename, data, *, revision="main"):
        """Replace a file's bytes in an existing commit (the commit sha stays the same)."""
        with self._lock:
            repo = self.repos[repo_id]
            sha = repo["refs"].get(revision, revision)
            repo["commits"][sha][filename] = bytes(data)

    def interrupt(self, repo_id, filename, times=1):
        """Cut the next `times` GETs of a file short: the connection closes mid-body."""
        with self._lock:
            self._interrupts[(repo_id, filename)] = int(times)

    def trickle(self, repo_id, filename, delay):
        """Send the body of GETs of a file one byte every `delay` seconds (None: normally)."""
        with self._lock:
            if delay is None:
                self._trickles.pop((repo_id, filename), None)
            else:
                self._trickles[(repo_id, filename)] = float(delay)

    def oversend(self, repo_id, filename, extra):
        """GETs of a file send `extra` bytes more than the file (HEAD still tells the true size)."""
        with self._lock:
            self._oversends[(repo_id, filename)] = int(extra)

    def count(self, method=None, contains=""):
        with self._lock:
            return sum(
                1 for m, path, _ in self.requests if (method is None or m == method) and contains in path
            )

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def endpoint(self):
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        handler = _make_handler(self)
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        # A client that stops reading (a refused oversized body, a download past its deadline) makes
        # the handler's last write fail: expected here, so not printed.
        self._httpd.handle_error = lambda request, client_address: None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- request handling (called from handler threads) ---------------------------------------
    def _resolve(self, repo_id, revision):
        repo = self.repos.get(repo_id)
        if repo is None:
            return None, None
        if revision in repo["commits"]:
            return repo, revision
        return repo, repo["refs"].get(revision)

    def _take_interrupt(self, repo_id, filename):
        with self._lock:
            left = self._interrupts.get((repo_id, filename), 0)
            if left > 0:
                self._interrupts[(repo_id, filename)] = left - 1
                return True, left
            return False, 0


def _make_handler(server):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = server.timeout

        def log_message(self, *args):  # keep test output quiet
            pass

        def _record(self):
            with server._lock:
                server.requests.append((self.command, self.path, self.headers.get("Range")))
                server.authorizations.append((self.command, self.path, self.headers.get("Authorization")))
                return len(server.requests) <= server.max_requests

        def _error(self, status, code, message, commit=None):
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, payload):
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self):
            self._dispatch()

        def do_GET(self):
            self._dispatch()

        def _dispatch(self):
            if not self._record():
                self._error(429, "TooManyRequests", "this test server's request budget is spent")
                return
            url = urllib.parse.urlsplit(self.path)
            parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
            query = urllib.parse.parse_qs(url.query)
            if len(parts) >= 5 and parts[2] == "resolve":
                self._resolve_file(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            elif len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] in ("revision", "tree"):
                self._api(f"{parts[2]}/{parts[3]}", parts[4], parts[5], "/".join(parts[6:]), query)
            else:
                self._error(404, "NotFound", f"no such endpoint: {url.path}")

        def _lookup(self, repo_id, revision):
            """(repo, commit sha), or (None, None) after answering the Hub's error."""
            repo, sha = server._resolve(repo_id, revision)
            if repo is None:
                self._error(401, "RepoNotFound", f"Repository {repo_id} not found")
            elif sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return (repo, sha) if sha else (None, None)

        def _resolve_file(self, repo_id, revision, filename):
            repo, sha = self._lookup(repo_id, revision)
            if sha is None:
                return
            data = repo["commits"][sha].get(filename)
            if data is None:
                self._error(404, "EntryNotFound", f"{filename} does not exist at {sha}", commit=sha)
                return
            start = 0
            ranged = self.headers.get("Range")
            if self.command == "GET" and ranged and ranged.startswith("bytes="):
                first = ranged[len("bytes="):].split("-")[0]
                start = min(int(first or 0), len(data))
            body = data[start:]
            with server._lock:
                trickle = server._trickles.get((repo_id, filename))
                extra = server._oversends.get((repo_id, filename), 0)
            if self.command == "GET" and extra:
                body = body + bytes(extra)
            self.send_response(206 if start else 200)
            self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
            self.send_header("X-Repo-Commit", sha)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if self.command == "HEAD":
                return
            cut, _ = server._take_interrupt(repo_id, filename)
            if cut:
                # The first cut delivers half the body; resumptions get nothing: a dead link.
                sent = len(body) // 2 if start == 0 else 0
                self.wfile.write(body[:sent])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if trickle is not None:
                try:
                    for offset in range(len(body)):
                        self.wfile.write(body[offset : offset + 1])
                        self.wfile.flush()
                        time.sleep(trickle)
                except OSError:  # the client gave up
                    self.close_connection = True
                return
            try:
                self.wfile.write(body)
            except OSError:  # the client stopped reading (an oversized body it refused)
                self.close_connection = True

        def _api(self, repo_id, kind, revision, subpath, query):
            repo, sha = self._lookup(repo_id, revision)
            if sha is None:
                return
            tree = repo["commits"][sha]
            if kind == "revision":
                self._json({"id": repo_id, "modelId": repo_id, "sha": sha, "private": False,
                            "siblings": [{"rfilename": p} for p in sorted(tree)]})
                return
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            prefix = subpath.strip("/") + "/" if subpath.strip("/") else ""
            entries, folders = [], set()
            for path in sorted(tree):
                if not path.startswith(prefix):
                    continue
                rest = path[len(prefix):]
                if "/" in rest and not recursive:
                    folders.add(prefix + rest.split("/")[0])
                    continue
                data = tree[path]
                digest = hashlib.sha256(data).hexdigest()
                entries.append({"type": "file", "path": path, "size": len(data),
                                "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
                                "lfs": {"oid": digest, "size": len(data), "pointerSize": 134}})
            entries += [{"type": "directory", "path": f, "oid": "0" * 40, "size": 0} for f in sorted(folders)]
            self._json(entries)

    return Handler
