#!/usr/bin/env python3
"""run.py - benchmark image-transfer against `skopeo sync --all`.

Every workload is generated into a local source docker-registry on
127.0.0.1; each tool copies it into its own fresh target registry. For each
run we record wall time, CPU seconds (user+sys of the tool process, from
wait4) and peak RSS, check that the target has every tag with the source's
digest, and print a markdown table (also written to bench/results.md).

Workloads (see bench/README.md):
  1  100 repos x 4 tags, 2 shared base + 2 own 256 KiB layers per image,
     every 5th tag a 2-platform OCI index; plus the target-ingest bound
  2  4 images with one 64 MiB layer each; plus the target-ingest bound
  3  rerun of 1 with nothing to copy (+ HTTP requests per unchanged tag)
  4  20 repos x 3 tags like 1, every request delayed 50 ms on both sides
  5  (or "scale"; not in the default set) a CCR -> TCR migration of a large
     generated account: enumeration + dry run, rerun with nothing to copy,
     real copy (bench/scale_run.py; sizes by --scale-* flags)

    python3 bench/run.py [--workload 1,2,3,4] [--quick] [--routines 8,16]
                         [--binary PATH] [--out bench/results.md]
    python3 bench/run.py --workload scale --scale-repos 10000 --scale-tags 5

Only loopback addresses are used; every registry, proxy and child process
is stopped at the end (or on error), and every child has a timeout.
"""

import argparse
import collections
import concurrent.futures
import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'integration'))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import MT, Registry, push_blob, push_manifest, sha256_digest  # noqa: E402,E501
from latency_proxy import LatencyProxy, classify  # noqa: E402
import scale_run  # noqa: E402

KIB = 1024
MIB = 1024 * 1024
RUN_TIMEOUT = 900  # seconds, per tool run


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


# ------------------------------------------------------------------ data

def make_layer(seed, size):
    """Generated layers are real tar.gz files (see harness.make_layer);
    gzip level 1 because random data does not compress anyway."""
    return harness.make_layer(seed, size, compresslevel=1)


class Workload:
    """What was seeded: tags per repo with digests, every distinct blob
    (first repo it was pushed to, bytes), every manifest in push order."""

    def __init__(self, name):
        self.name = name
        self.tags = collections.OrderedDict()  # repo -> {tag: digest}
        self.blobs = collections.OrderedDict()  # digest -> (repo, bytes)
        self.manifests = []  # (repo, ref, body, media type, is_index)
        self.mounts = []  # (repo, digest, from repo) for shared blobs
        self.lock = threading.Lock()

    def n_tags(self):
        return sum(len(t) for t in self.tags.values())

    def blob_bytes(self):
        return sum(len(b) for _, b in self.blobs.values())


def mount_or_push(reg, repo, data, digest, from_repo):
    """Cross-repository mount (cheap on the registry), else a push."""
    status, _, _ = reg.request(
        'POST', '/v2/%s/blobs/uploads/?mount=%s&from=%s' % (
            repo, urllib.parse.quote(digest), urllib.parse.quote(from_repo)),
        data=b'')
    if status != 201:
        push_blob(reg, repo, data)


def _push_image(reg, wl, repo, layers, oci, arch, shared):
    """Pushes config + layers of one image manifest and returns
    (body, media type). `shared`: [(digest, bytes, home repo)] mounted."""
    all_layers = [b for _, b, _ in shared] + layers
    diff_ids = [sha256_digest(gzip.decompress(b)) for b in all_layers]
    config = json.dumps({
        'architecture': arch, 'os': 'linux',
        'created': '2024-01-01T00:00:00Z',
        'config': {'Env': ['PATH=/usr/bin:/bin'], 'Labels': {'repo': repo}},
        'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
        'history': [{'created': '2024-01-01T00:00:00Z',
                     'created_by': 'layer %d' % i}
                    for i in range(len(all_layers))],
    }, sort_keys=True).encode()
    cdig = push_blob(reg, repo, config)
    descs = []
    for d, b, home in shared:
        if home != repo:
            mount_or_push(reg, repo, b, d, home)
            with wl.lock:
                if (repo, d, home) not in wl.mounts:
                    wl.mounts.append((repo, d, home))
        descs.append((d, len(b)))
    for b in layers:
        descs.append((push_blob(reg, repo, b), len(b)))
    with wl.lock:
        wl.blobs.setdefault(cdig, (repo, config))
        for b in layers:
            wl.blobs.setdefault(sha256_digest(b), (repo, b))
    ltype = MT['oci_layer' if oci else 'docker_layer']
    m = {'schemaVersion': 2, 'mediaType': MT['oci' if oci else 'v2s2'],
         'config': {'mediaType': MT['oci_config' if oci else 'docker_config'],
                    'size': len(config), 'digest': cdig},
         'layers': [{'mediaType': ltype, 'size': s, 'digest': d}
                    for d, s in descs]}
    return json.dumps(m, indent=3).encode(), MT['oci' if oci else 'v2s2']


def seed_repo(reg, wl, repo, n_tags, index_every, own, own_size, shared,
              seed_base, first_tag_no=0):
    """n_tags tags in repo: v2s2 images, every index_every-th tag (counted
    over all repos, from first_tag_no) an OCI index with amd64 + arm64/v8
    children (each child like an image)."""
    tags = collections.OrderedDict()
    manifests = []
    for t in range(n_tags):
        tag = 'v%d' % (t + 1)
        seed = seed_base + t * 100
        if index_every and (first_tag_no + t + 1) % index_every == 0:
            descs = []
            for i, (arch, variant) in enumerate((('amd64', None),
                                                 ('arm64', 'v8'))):
                layers = [make_layer(seed + 10 * i + j, own_size)
                          for j in range(own)]
                body, mt = _push_image(reg, wl, repo, layers, True, arch,
                                       shared)
                d = push_manifest(reg, repo, sha256_digest(body), body, mt)
                manifests.append((repo, d, body, mt, False))
                plat = {'architecture': arch, 'os': 'linux'}
                if variant:
                    plat['variant'] = variant
                descs.append({'mediaType': mt, 'size': len(body),
                              'digest': d, 'platform': plat})
            body = json.dumps({'schemaVersion': 2,
                               'mediaType': MT['index'],
                               'manifests': descs}, indent=2).encode()
            tags[tag] = push_manifest(reg, repo, tag, body, MT['index'])
            manifests.append((repo, tag, body, MT['index'], True))
        else:
            layers = [make_layer(seed + j, own_size) for j in range(own)]
            body, mt = _push_image(reg, wl, repo, layers, False, 'amd64',
                                   shared)
            tags[tag] = push_manifest(reg, repo, tag, body, mt)
            manifests.append((repo, tag, body, mt, False))
    with wl.lock:
        wl.tags[repo] = tags
        wl.manifests.extend(manifests)


def seed_many(reg, name, n_repos, n_tags, own, own_size, shared_n,
              shared_size, index_every=5, prefix='bench/app', workers=4):
    """Workloads 1 and 4: n_repos repos seeded in parallel."""
    wl = Workload(name)
    home = '%s%03d' % (prefix, 0)
    shared = []
    for i in range(shared_n):
        b = make_layer(900000 + i, shared_size)
        d = push_blob(reg, home, b)
        wl.blobs[d] = (home, b)
        shared.append((d, b, home))
    repos = ['%s%03d' % (prefix, r) for r in range(n_repos)]
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        futs = [ex.submit(seed_repo, reg, wl, repo, n_tags, index_every,
                          own, own_size, shared, 1000 + r * 10000,
                          r * n_tags)
                for r, repo in enumerate(repos)]
        for f in futs:
            f.result()
    wl.tags = collections.OrderedDict((r, wl.tags[r]) for r in repos)
    return wl


def seed_big(reg, n_images, layer_size):
    """Workload 2: n_images repos with one tag holding one big layer."""
    wl = Workload('big')
    for i in range(n_images):
        repo = 'bench/big%d' % i
        layer = make_layer(777000 + i, layer_size)
        body, mt = _push_image(reg, wl, repo, [layer], False, 'amd64', [])
        d = push_manifest(reg, repo, 'latest', body, mt)
        wl.tags[repo] = {'latest': d}
        wl.manifests.append((repo, 'latest', body, mt, False))
    return wl


# ------------------------------------------------------------ measuring

def measure(cmd, logfile, timeout=RUN_TIMEOUT, env=None):
    """Runs cmd under /usr/bin/time; returns {wall, cpu, user, sys, rss_mib,
    rc} of that process. (wait4 from this process would report this
    Python's own RSS: Linux keeps the high-water mark of the forked copy
    across exec. time(1) forks from a small process.)"""
    tfile = logfile + '.time'
    with open(logfile, 'ab') as out:
        out.write(('$ %s\n' % ' '.join(cmd)).encode())
        out.flush()
        t0 = time.monotonic()
        p = subprocess.Popen(['/usr/bin/time', '-o', tfile, '-f',
                              '%U %S %M %x'] + list(cmd), stdout=out,
                             stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(30)
        wall = time.monotonic() - t0
    user = sys_ = rss = 0.0
    rc = p.returncode
    try:
        with open(tfile) as f:
            last = f.read().strip().splitlines()[-1].split()
        user, sys_, rss = float(last[0]), float(last[1]), float(last[2])
        rc = int(last[3])
    except (OSError, IndexError, ValueError):
        pass
    return {'wall': wall, 'user': user, 'sys': sys_, 'cpu': user + sys_,
            'rss_mib': rss / 1024.0, 'rc': rc}


class Ingest:
    """The target-ingest bound: every distinct blob uploaded once
    (monolithic POST + PUT), the shared ones mounted into the other repos,
    and every manifest PUT, `workers` in parallel
    over keep-alive connections, bodies from memory, into a fresh
    registry. Measures how fast the target registry alone can take the
    data; no copier can beat it."""

    def __init__(self, reg, workers=4):
        self.reg = reg
        self.workers = workers
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, 'conn', None)
        if c is None:
            c = http.client.HTTPConnection('127.0.0.1', self.reg.port,
                                           timeout=120)
            self.local.conn = c
        return c

    def _req(self, method, path, body=None, headers=None):
        for attempt in range(2):
            c = self._conn()
            try:
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                return r.status, r, data
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt:
                    raise
        raise RuntimeError('unreachable')

    def blob(self, repo, data):
        st, r, body = self._req('POST', '/v2/%s/blobs/uploads/' % repo,
                                b'', {'Content-Length': '0'})
        if st != 202:
            raise RuntimeError('ingest POST %d %r' % (st, body[:200]))
        loc = urllib.parse.urlparse(r.getheader('Location'))
        path = loc.path + '?' + (loc.query + '&' if loc.query else '') + \
            'digest=' + urllib.parse.quote(sha256_digest(data))
        st, _, body = self._req('PUT', path, data, {
            'Content-Type': 'application/octet-stream',
            'Content-Length': str(len(data))})
        if st != 201:
            raise RuntimeError('ingest PUT %d %r' % (st, body[:200]))

    def mount(self, repo, digest, from_repo):
        st, _, body = self._req(
            'POST', '/v2/%s/blobs/uploads/?mount=%s&from=%s' % (
                repo, urllib.parse.quote(digest),
                urllib.parse.quote(from_repo)), b'', {'Content-Length': '0'})
        if st != 201:
            raise RuntimeError('ingest mount %d %r' % (st, body[:200]))

    def manifest(self, repo, ref, body, mt):
        st, _, resp = self._req('PUT', '/v2/%s/manifests/%s' % (repo, ref),
                                body, {'Content-Type': mt})
        if st != 201:
            raise RuntimeError('ingest manifest %d %r' % (st, resp[:200]))

    def run(self, wl):
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.workers) as ex:
            for f in [ex.submit(self.blob, repo, data)
                      for repo, data in wl.blobs.values()]:
                f.result()
            t_blobs = time.monotonic() - t0
            for f in [ex.submit(self.mount, repo, d, home)
                      for repo, d, home in wl.mounts]:
                f.result()
            # Children and plain images first, then the indexes.
            for want_index in (False, True):
                for f in [ex.submit(self.manifest, repo, ref, body, mt)
                          for repo, ref, body, mt, idx in wl.manifests
                          if idx == want_index]:
                    f.result()
        return {'wall': time.monotonic() - t0, 'blobs_wall': t_blobs}


_TCK = os.sysconf('SC_CLK_TCK')


def proc_cpu(pid):
    """user+sys CPU seconds used so far by process pid (all threads)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(_TCK)
    except (OSError, IndexError, ValueError):
        return 0.0


class RegCPU:
    """CPU seconds the given registries' processes use inside a with
    block: .used = {'src': s, 'dst': s}."""

    def __init__(self, **regs):
        self.regs = regs
        self.used = {}

    def __enter__(self):
        self.t0 = {k: proc_cpu(r.proc.pid) for k, r in self.regs.items()}
        return self

    def __exit__(self, *exc):
        self.used = {k: proc_cpu(r.proc.pid) - self.t0[k]
                     for k, r in self.regs.items()}
        return False


def replay(reqs, workers):
    """The registries alone: sends reqs [(registry, method, path)] with
    `workers` threads over keep-alive connections; returns the wall time.
    Shows how long the registries need for a given request mix."""
    local = threading.local()
    accept = ', '.join(MT.values())

    def one(item):
        reg, method, path = item
        conns = getattr(local, 'conns', None)
        if conns is None:
            conns = local.conns = {}
        c = conns.get(reg.port)
        if c is None:
            c = conns[reg.port] = http.client.HTTPConnection(
                '127.0.0.1', reg.port, timeout=60)
        c.request(method, path, headers={'Accept': accept})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError('replay %s %s: %d' % (method, path, r.status))

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        for _ in ex.map(one, reqs):
            pass
    return time.monotonic() - t0


def median_run(fn, n):
    """Runs fn() n times; returns the run with the median wall time, with
    'runs' (all walls) added."""
    runs = [fn() for _ in range(max(1, n))]
    runs.sort(key=lambda m: m['wall'])
    m = dict(runs[len(runs) // 2])
    m['runs'] = [r['wall'] for r in runs]
    return m


def target_digests(reg, wl):
    """{repo: {tag: digest}} of what the target has for wl's repos."""
    out = {}
    for repo, tags in wl.tags.items():
        st, _, body = reg.request('GET', '/v2/%s/tags/list' % repo)
        have = json.loads(body).get('tags') or [] if st == 200 else []
        got = {}
        for tag in have:
            st, h, _ = reg.request('HEAD', '/v2/%s/manifests/%s' % (repo, tag),
                                   headers={'Accept': ', '.join(MT.values())})
            got[tag] = h.get('Docker-Content-Digest') if st == 200 else None
        out[repo] = got
    return out


def verify(reg, wl):
    """(tags present with the source digest, tags expected, note)."""
    got = target_digests(reg, wl)
    ok = 0
    bad = []
    for repo, tags in wl.tags.items():
        for tag, digest in tags.items():
            if got.get(repo, {}).get(tag) == digest:
                ok += 1
            else:
                bad.append('%s:%s' % (repo, tag))
    note = '' if not bad else 'missing/different: %s%s' % (
        ', '.join(bad[:5]), ' ...' if len(bad) > 5 else '')
    return ok, wl.n_tags(), note


# ------------------------------------------------------------- the tools

class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.work = workdir
        self.rows = []  # result table rows
        self.checks = []  # (target, measured, met)
        self.findings = []
        self.extra = []  # whole tables of their own (workload 5)
        self.seq = 0

    def path(self, name):
        return os.path.join(self.work, name)

    def it_files(self, src_hosts_repos, dst_host, insecure_hosts):
        """Writes the security + rule files for image-transfer."""
        self.seq += 1
        sec = self.path('sec-%d.yaml' % self.seq)
        rules = self.path('rules-%d.yaml' % self.seq)
        with open(sec, 'w') as f:
            for h in insecure_hosts:
                f.write('"%s":\n  insecure: true\n' % h)
        with open(rules, 'w') as f:
            for src_host, repo in src_hosts_repos:
                f.write('"%s/%s": "%s/%s"\n' % (src_host, repo, dst_host,
                                                repo))
        return sec, rules

    def run_it(self, label, wl, src_host, dst_host, routines, state_dir,
               extra=(), regs=None):
        sec, rules = self.it_files([(src_host, r) for r in wl.tags],
                                   dst_host, [src_host, dst_host])
        report = self.path('report-%d.json' % self.seq)
        cmd = [self.args.binary, '--securityFile=' + sec,
               '--ruleFile=' + rules, '--state-dir=' + state_dir,
               '--report=' + report, '--no-tui', '--qps=0',
               '--progress-interval=0', '--routines=%d' % routines]
        cmd += list(extra)
        log('%s: image-transfer --routines=%d' % (label, routines))
        with RegCPU(**(regs or {})) as rc:
            m = measure(cmd, self.path('image-transfer.log'))
        m['regcpu'] = rc.used
        try:
            with open(report) as f:
                m['summary'] = json.load(f).get('summary', {})
        except (OSError, ValueError):
            m['summary'] = {}
        log('  wall %.2fs cpu %.2fs rss %.1f MiB rc %d %s' % (
            m['wall'], m['cpu'], m['rss_mib'], m['rc'],
            json.dumps(m['summary'])))
        return m

    def run_skopeo(self, label, wl, src_host, dst_host, regs=None):
        self.seq += 1
        yml = self.path('sync-%d.yml' % self.seq)
        with open(yml, 'w') as f:
            f.write('"%s":\n  tls-verify: false\n  images:\n' % src_host)
            for repo in wl.tags:
                f.write('    %s: []\n' % repo)
        # Without --scoped, skopeo sync keeps only the last path component
        # of each source repo: give the namespace in the destination.
        spaces = {os.path.dirname(r) for r in wl.tags}
        if len(spaces) != 1:
            raise RuntimeError('skopeo sync: repos need one namespace')
        ns = spaces.pop()
        dest = dst_host + ('/' + ns if ns else '')
        cmd = ['skopeo', 'sync', '--all', '--src', 'yaml', '--dest',
               'docker', '--dest-tls-verify=false', yml, dest]
        log('%s: skopeo sync --all' % label)
        with RegCPU(**(regs or {})) as rc:
            m = measure(cmd, self.path('skopeo.log'))
        m['regcpu'] = rc.used
        log('  wall %.2fs cpu %.2fs rss %.1f MiB rc %d' % (
            m['wall'], m['cpu'], m['rss_mib'], m['rc']))
        return m

    def row(self, wl_name, run, m, tags=None, note=''):
        self.rows.append({'workload': wl_name, 'run': run, 'm': m,
                          'tags': tags, 'note': note})

    def check(self, what, measured, met):
        self.checks.append((what, measured, met))

    # ---------------------------------------------------------------- 1+3

    def workload1(self, want3):
        a = self.args
        n_repos, n_tags = (10, 4) if a.quick else (100, 4)
        own_size = 64 * KIB if a.quick else 256 * KIB
        with Registry() as src:
            log('w1: seeding %d repos x %d tags into %s' % (n_repos, n_tags,
                                                           src.host))
            t0 = time.monotonic()
            wl = seed_many(src, 'w1', n_repos, n_tags, own=2,
                           own_size=own_size, shared_n=2,
                           shared_size=own_size)
            log('w1: seeded %d tags, %d distinct blobs, %.1f MiB in %.1fs' % (
                wl.n_tags(), len(wl.blobs), wl.blob_bytes() / MIB,
                time.monotonic() - t0))
            name = '1: %d repos x %d tags (%d blobs, %.0f MiB)' % (
                n_repos, n_tags, len(wl.blobs), wl.blob_bytes() / MIB)

            with Registry() as dst, RegCPU(dst=dst) as rc:
                m = Ingest(dst).run(wl)
            m['regcpu'] = rc.used
            if True:
                log('w1: ingest bound %.2fs (blobs %.2fs)' % (
                    m['wall'], m['blobs_wall']))
                self.row(name, 'target-ingest bound (4 parallel)', m)
                bound = m['wall']

            best = None
            keep = None  # (dst registry, state dir, routines) for w3
            stack = contextlib.ExitStack()
            with stack:
                for r in a.routines:
                    dst = stack.enter_context(Registry())
                    state = tempfile.mkdtemp(prefix='state-', dir=self.work)
                    m = self.run_it('w1', wl, src.host, dst.host, r, state,
                                    regs={'src': src, 'dst': dst})
                    ok, want, note = verify(dst, wl)
                    self.row(name, 'image-transfer --routines=%d' % r, m,
                             (ok, want), note)
                    if best is None or m['wall'] < best['wall']:
                        best = m
                    if keep is None:
                        keep = (dst, state, r)
                sdst = stack.enter_context(Registry())
                sk = self.run_skopeo('w1', wl, src.host, sdst.host,
                                     {'src': src, 'dst': sdst})
                ok, want, note = verify(sdst, wl)
                self.row(name, 'skopeo sync --all', sk, (ok, want), note)
                ratio = sk['wall'] / best['wall']
                self.check('(1) skopeo wall / image-transfer wall >= 3',
                           '%.2fx' % ratio, ratio >= 3)
                ib = best['wall'] / bound
                self.check('(1) image-transfer wall / ingest bound <= 1.6',
                           '%.2fx' % ib, ib <= 1.6)
                if want3:
                    self.workload3(wl, src, keep, sdst, name)

    def workload3(self, wl, src, keep, sdst, name1):
        dst, state, r = keep
        name = '3: rerun of %s' % name1[3:]
        n = self.args.repeat
        both = {'src': src, 'dst': dst}
        m = median_run(lambda: self.run_it('w3', wl, src.host, dst.host, r,
                                           state, regs=both), n)
        self.row(name, 'image-transfer rerun (same state dir)', m)
        fresh = tempfile.mkdtemp(prefix='state-', dir=self.work)
        m2 = self.run_it('w3', wl, src.host, dst.host, r, fresh, regs=both)
        self.row(name, 'image-transfer rerun (empty state dir)', m2)
        # Diagnostics: how long the two registries alone need for the
        # rerun's request mix, and for a mix with one HEAD per tag.
        tl = [(reg, 'GET', '/v2/%s/tags/list' % repo)
              for repo in wl.tags for reg in (src, dst)]
        heads = [(reg, 'HEAD', '/v2/%s/manifests/%s' % (repo, tag))
                 for repo, tags in wl.tags.items() for tag in tags
                 for reg in (src, dst)]
        full = tl + heads
        def timed(reqs):
            with RegCPU(**both) as rc:
                w = replay(reqs, r)
            return {'wall': w, 'regcpu': rc.used}
        t = median_run(lambda: timed(full), n)
        self.row(name, 'registries alone: the same %d requests (tags lists '
                 'both sides + HEAD both sides), %d parallel' % (len(full), r),
                 t)
        one = [x for x in tl if x[0] is src] + \
            [x for x in heads if x[0] is src]
        t1 = median_run(lambda: timed(one), n)
        self.row(name, 'registries alone: %d requests (source tags list + '
                 'one HEAD per tag), %d parallel' % (len(one), r), t1)
        sk = self.run_skopeo('w3', wl, src.host, sdst.host,
                             {'src': src, 'dst': sdst})
        ok, want, note = verify(sdst, wl)
        self.row(name, 'skopeo sync --all rerun', sk, (ok, want), note)
        ratio = sk['wall'] / m['wall']
        self.check('(3) skopeo rerun wall / image-transfer rerun wall >= 12',
                   '%.2fx' % ratio, ratio >= 12)
        # Requests per unchanged tag, from the debug log's "http" lines.
        for label, sd in (('same state dir', state), ('empty state dir',
                                                      fresh)):
            logf = self.path('w3-debug-%s.log' % label.split()[0])
            self.run_it('w3 (count)', wl, src.host, dst.host, r, sd,
                        ['--log-level=debug', '--log-file=' + logf])
            counts = count_log_requests(logf)
            total = sum(counts.values())
            per = total / float(wl.n_tags())
            detail = ', '.join('%s %d' % kv for kv in sorted(counts.items()))
            self.findings.append(
                'w3 rerun (%s): %d HTTP requests for %d unchanged tags = '
                '%.2f per tag (%s)' % (label, total, wl.n_tags(), per, detail))
            if label == 'same state dir':
                self.check('(3) HTTP requests per unchanged tag <= 2 '
                           '(rerun, same state dir)', '%.2f' % per, per <= 2)
            else:
                self.check('(3) HTTP requests per unchanged tag <= 2 '
                           '(rerun, empty state dir)', '%.2f' % per, per <= 2)

    # ------------------------------------------------------------------ 2

    def workload2(self):
        a = self.args
        size = 8 * MIB if a.quick else 64 * MIB
        with Registry() as src:
            log('w2: seeding 4 images with one %d MiB layer' % (size // MIB))
            wl = seed_big(src, 4, size)
            name = '2: 4 images x 1 layer of %d MiB (%.0f MiB)' % (
                size // MIB, wl.blob_bytes() / MIB)
            def ingest():
                with Registry() as dst, RegCPU(dst=dst) as rc:
                    m = Ingest(dst).run(wl)
                m['regcpu'] = rc.used
                return m
            m = median_run(ingest, a.repeat)
            log('w2: ingest bound %.2fs' % m['wall'])
            self.row(name, 'target-ingest bound (4 parallel)', m)
            bound = m['wall']
            res = []
            for r in a.routines[:1]:
                def once():
                    with Registry() as dst:
                        state = tempfile.mkdtemp(prefix='state-',
                                                 dir=self.work)
                        m = self.run_it('w2', wl, src.host, dst.host, r,
                                        state, regs={'src': src, 'dst': dst})
                        m['verify'] = verify(dst, wl)
                        return m
                m = median_run(once, a.repeat)
                ok, want, note = m['verify']
                self.row(name, 'image-transfer --routines=%d' % r, m,
                         (ok, want), note)
                res.append(m)
            with Registry() as dst:
                sk = self.run_skopeo('w2', wl, src.host, dst.host,
                                     {'src': src, 'dst': dst})
                ok, want, note = verify(dst, wl)
                self.row(name, 'skopeo sync --all', sk, (ok, want), note)
            m = min(res, key=lambda x: x['wall'])
            ib = m['wall'] / bound
            self.check('(2) image-transfer wall / ingest bound <= 1.3',
                       '%.2fx' % ib, ib <= 1.3)
            self.check('(2) image-transfer peak RSS <= 16 MiB',
                       '%.1f MiB' % m['rss_mib'], m['rss_mib'] <= 16)

    # ------------------------------------------------------------------ 4

    def workload4(self):
        a = self.args
        n_repos, n_tags = (5, 3) if a.quick else (20, 3)
        own_size = 64 * KIB if a.quick else 256 * KIB
        delay = a.delay_ms
        with Registry() as src:
            log('w4: seeding %d repos x %d tags' % (n_repos, n_tags))
            wl = seed_many(src, 'w4', n_repos, n_tags, own=2,
                           own_size=own_size, shared_n=2,
                           shared_size=own_size, prefix='bench/lat')
            name = '4: %d repos x %d tags, +%g ms per request' % (
                n_repos, n_tags, delay)
            with LatencyProxy('127.0.0.1', src.port, delay) as sp:
                best = None
                for r in a.routines:
                    with Registry() as dst, \
                            LatencyProxy('127.0.0.1', dst.port, delay) as dp:
                        sp.reset()
                        state = tempfile.mkdtemp(prefix='state-',
                                                 dir=self.work)
                        m = self.run_it('w4', wl, sp.host, dp.host, r, state,
                                        regs={'src': src, 'dst': dst})
                        ok, want, note = verify(dst, wl)
                        m['requests'] = sp.total() + dp.total()
                        self.findings.append(
                            'w4 image-transfer --routines=%d requests: '
                            'source %s; target %s' % (
                                r, fmt_counts(sp.counts()),
                                fmt_counts(dp.counts())))
                        self.row(name, 'image-transfer --routines=%d' % r, m,
                                 (ok, want), note)
                        lb, crit, desc = latency_bound(
                            sp.counts(), dp.counts(), delay, r)
                        self.row(name, 'latency bound, --routines=%d: %s' % (
                            r, desc), {'wall': lb, 'requests': crit})
                        m['bound'] = lb
                        hb, hdesc = host_bound(sp.counts(), dp.counts(),
                                               delay, r)
                        self.row(name, 'per-host bound, --routines=%d: %s' % (
                            r, hdesc), {'wall': hb})
                        m['host_bound'] = hb
                        self.findings.append(
                            'w4 image-transfer --routines=%d at the target '
                            'proxy: %s' % (r, timeline_stats(dp.timeline(),
                                                             m['wall'])))
                        if best is None or m['wall'] < best['wall']:
                            best = m
                with Registry() as dst, \
                        LatencyProxy('127.0.0.1', dst.port, delay) as dp:
                    sp.reset()
                    sk = self.run_skopeo('w4', wl, sp.host, dp.host,
                                         {'src': src, 'dst': dst})
                    ok, want, note = verify(dst, wl)
                    sk['requests'] = sp.total() + dp.total()
                    self.findings.append(
                        'w4 skopeo requests: source %s; target %s' % (
                            fmt_counts(sp.counts()), fmt_counts(dp.counts())))
                    self.row(name, 'skopeo sync --all', sk, (ok, want), note)
            ratio = sk['wall'] / best['wall']
            self.check('(4) skopeo wall / image-transfer wall >= 15 '
                       '(+%g ms)' % delay, '%.2fx' % ratio, ratio >= 15)
            lr = best['wall'] / best['bound']
            self.check('(4) image-transfer wall / latency bound <= 1.25',
                       '%.2fx' % lr, lr <= 1.25)
            # Not a goal of its own: how far the target's own answer time
            # (not latency) keeps the run from the per-host bound.
            self.findings.append(
                'w4 image-transfer wall / per-host bound: %.2fx (%.2f s / '
                '%.2f s)' % (best['wall'] / best['host_bound'], best['wall'],
                             best['host_bound']))

    # -------------------------------------------------------------- output

    def table(self):
        out = []
        if self.rows:
            out = self.main_table()
        for block in self.extra:
            out += ['', block.rstrip('\n')]
        return '\n'.join(out).lstrip('\n') + '\n'

    def main_table(self):
        out = ['| workload | run | wall s | CPU s (user+sys) | peak RSS MiB '
               '| registry CPU s | HTTP requests | tags ok | notes |',
               '|---|---|---:|---:|---:|---:|---:|---:|---|']
        for r in self.rows:
            m = r['m']
            cpu = '%.2f' % m['cpu'] if 'cpu' in m else '-'
            rss = '%.1f' % m['rss_mib'] if 'rss_mib' in m else '-'
            req = str(m['requests']) if 'requests' in m else '-'
            tags = '%d/%d' % r['tags'] if r['tags'] else '-'
            rcpu = m.get('regcpu') or {}
            regcpu = ' + '.join('%s %.1f' % (k, rcpu[k]) for k in
                                ('src', 'dst') if k in rcpu) or '-'
            note = r['note']
            if m.get('rc'):
                note = ('exit %d; ' % m['rc']) + note
            if len(m.get('runs', [])) > 1:
                note = ('median of %d (%s s). ' % (
                    len(m['runs']), ', '.join('%.2f' % w for w in m['runs']))
                        + note)
            s = m.get('summary')
            if s:
                note = ('copied %s, skipped %s, failed %s; blobs copied %s, '
                        'mounted %s, skipped %s. ' % (
                            s.get('images_copied'), s.get('images_skipped'),
                            s.get('images_failed'), s.get('blobs_copied'),
                            s.get('blobs_mounted'), s.get('blobs_skipped'))
                        + note)
            out.append('| %s | %s | %.2f | %s | %s | %s | %s | %s | %s |' % (
                r['workload'], r['run'], m['wall'], cpu, rss, regcpu, req,
                tags, note.strip()))
        out += ['', '| target | measured | met |', '|---|---:|---|']
        for what, measured, met in self.checks:
            out.append('| %s | %s | %s |' % (what, measured,
                                             'yes' if met else '**no**'))
        if self.findings:
            out += ['', 'Request counts:', '']
            out += ['* ' + f for f in self.findings]
        return out


def latency_bound(src, dst, delay_ms, routines):
    """Workload 4's latency bound from the proxies' counts by kind:
    (critical-path requests / routines + start) x delay. Off the critical
    path: the source blob GETs (each streams while its upload PUT runs:
    min(GET blob, PUT upload) pairs count once) and the target's tag lists
    (listed while the source's listing runs). The start (TLS probe + /v2/
    ping, the two registries at once) is waited for by every worker: it
    counts in full, not divided by the routines. Returns (seconds,
    critical-path requests, a description)."""
    total = sum(src.values()) + sum(dst.values())
    start_src = src.get('TLS probe', 0) + src.get('GET ping', 0)
    start_dst = dst.get('TLS probe', 0) + dst.get('GET ping', 0)
    overlap = min(src.get('GET blob', 0), dst.get('PUT upload', 0)) + \
        dst.get('GET tags', 0)
    per = total - overlap - start_src - start_dst
    start = max(start_src, start_dst)
    secs = (per / float(routines) + start) * delay_ms / 1000.0
    desc = ('(%d - %d overlapped - %d start) / %d + %d start, x %g ms' % (
        total, overlap, start_src + start_dst, routines, start, delay_ms))
    return secs, per + start, desc


def timeline_stats(tl, wall):
    """Requests in flight on average over the run (the sum of the
    requests' times at the proxy / wall) and their median time (the delay
    plus the registry's own answer time), from a LatencyProxy timeline."""
    if not tl or wall <= 0:
        return 'no requests'
    times = sorted(b - a for a, b, _ in tl)
    return ('%.1f requests in flight on average, median %.0f ms per '
            'request' % (sum(times) / wall, 1000 * times[len(times) // 2]))


def host_bound(src, dst, delay_ms, routines):
    """A tighter bound than latency_bound(), for a client that keeps
    --routines requests in flight to each registry at once (image-transfer
    runs twice as many workers as routines, so the source's manifest GETs
    overlap the target's uploads): the target's own requests (but its tag
    lists, sent while the source lists) / routines, plus the start and
    the lead-in before the first upload (source tag list, manifest GET,
    blob GET: 3 round trips). Returns (seconds, description)."""
    start = max(src.get('TLS probe', 0) + src.get('GET ping', 0),
                dst.get('TLS probe', 0) + dst.get('GET ping', 0))
    busy = sum(v for k, v in dst.items()
               if k not in ('TLS probe', 'GET ping', 'GET tags'))
    secs = (busy / float(routines) + start + 3) * delay_ms / 1000.0
    desc = ('target %d requests / %d + %d start + 3 lead-in, x %g ms' % (
        busy, routines, start, delay_ms))
    return secs, desc


def fmt_counts(c):
    return ', '.join('%s %d' % kv for kv in sorted(c.items())) or 'none'


_HTTP_LINE = re.compile(r'\bhttp (GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) -> ')


def count_log_requests(path):
    """Counts image-transfer's debug 'http METHOD URL -> status' lines by
    request kind."""
    counts = collections.Counter()
    try:
        with open(path, errors='replace') as f:
            for line in f:
                mo = _HTTP_LINE.search(line)
                if mo:
                    url = mo.group(2)
                    target = '/' + url.split('/', 3)[3] if url.count('/') >= 3 \
                        else '/'
                    counts[classify(mo.group(1), target)] += 1
    except OSError:
        pass
    return counts


def default_binary():
    for p in (os.environ.get('IMAGE_TRANSFER'),
              '/tmp/build-bench/src/image-transfer',
              os.path.join(REPO_ROOT, 'build', 'src', 'image-transfer')):
        if p and os.access(p, os.X_OK):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(
        description='benchmark image-transfer against skopeo sync')
    ap.add_argument('--workload', default='1,2,3,4',
                    help='comma-separated subset of 1,2,3,4,5 (5 = scale)')
    ap.add_argument('--quick', action='store_true',
                    help='small sizes for a smoke run')
    ap.add_argument('--routines', default='8,16',
                    help='image-transfer --routines values to try')
    ap.add_argument('--repeat', type=int, default=3,
                    help='runs of the short measurements (workload 2, the '
                    'reruns of 3) whose median is reported')
    ap.add_argument('--delay-ms', type=float, default=50,
                    help='latency added per request in workload 4')
    ap.add_argument('--binary', default=default_binary(),
                    help='image-transfer (default $IMAGE_TRANSFER or '
                    '/tmp/build-bench/src/image-transfer)')
    ap.add_argument('--out', default=os.path.join(HERE, 'results.md'))
    ap.add_argument('--keep-work', action='store_true',
                    help='keep the work dir (logs, configs, reports)')
    sc = ap.add_argument_group('workload 5 (scale)')
    sc.add_argument('--scale-repos', type=int, default=None,
                    help='repositories of the account (default 10000, '
                    '--quick 500)')
    sc.add_argument('--scale-tags', type=int, default=None,
                    help='tags per repository (default 5, --quick 3)')
    sc.add_argument('--scale-copy-repos', type=int, default=None,
                    help='repositories x 1 tag of the real copy, run c '
                    '(default 2000, --quick 100)')
    sc.add_argument('--scale-namespaces', type=int, default=100)
    sc.add_argument('--scale-routines', type=int, default=16)
    sc.add_argument('--scale-runs', default='abc',
                    help='a: enumeration + dry run, b: reruns, c: copy')
    sc.add_argument('--scale-timeout', type=int, default=3600,
                    help='seconds per run before it is stopped')
    sc.add_argument('--scale-rss-cap', type=int, default=4096,
                    help='MiB of peak RSS at which a run is stopped')
    args = ap.parse_args()
    try:
        wls = sorted({5 if w.strip() == 'scale' else int(w)
                      for w in args.workload.split(',') if w.strip()})
        args.routines = [int(r) for r in args.routines.split(',')
                         if r.strip()]
    except ValueError:
        ap.error('--workload and --routines take comma-separated numbers')
    if not wls or any(w not in (1, 2, 3, 4, 5) for w in wls) or \
            not args.routines:
        ap.error('--workload takes 1..5, --routines at least one value')
    for name, full, quick in (('scale_repos', 10000, 500),
                              ('scale_tags', 5, 3),
                              ('scale_copy_repos', 2000, 100)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.scale_repos < 1 or args.scale_tags < 1 or \
            args.scale_copy_repos < 0 or args.scale_namespaces < 1:
        ap.error('--scale-repos, --scale-tags and --scale-namespaces must '
                 'be >= 1')
    if not args.binary or not os.access(args.binary, os.X_OK):
        ap.error('image-transfer binary not found; give --binary')
    for t in ('docker-registry', 'skopeo'):
        if shutil.which(t) is None:
            ap.error('%s not found' % t)

    # SIGTERM/SIGHUP unwind like Ctrl-C so every registry gets stopped.
    def _stop(signum, frame):
        raise KeyboardInterrupt('signal %d' % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)

    work = tempfile.mkdtemp(prefix='it-bench-')
    log('binary %s, work dir %s' % (args.binary, work))
    bench = Bench(args, work)
    t0 = time.monotonic()
    try:
        if 1 in wls or 3 in wls:
            bench.workload1(3 in wls)
        if 2 in wls:
            bench.workload2()
        if 4 in wls:
            bench.workload4()
        if 5 in wls:
            scale_run.Scale(bench).run()
    finally:
        harness._cleanup_all()
        text = bench.table()
        header = ('# image-transfer benchmark results\n\n'
                  '%s, %s mode, %d CPUs, skopeo %s, total %.0f s.\n\n' % (
                      time.strftime('%Y-%m-%d %H:%M'),
                      'quick' if args.quick else 'full', os.cpu_count(),
                      skopeo_version(), time.monotonic() - t0))
        print()
        print(text)
        # Workload 5 alone is added to the file; a run of the others
        # replaces it.
        with open(args.out, 'a' if wls == [5] else 'w') as f:
            f.write(('\n' if wls == [5] else '') + header + text)
        log('wrote %s' % args.out)
        if args.keep_work:
            log('work dir kept: %s' % work)
        else:
            # rm(1) removes workload 5's millions of directories about
            # three times as fast as shutil.rmtree.
            try:
                subprocess.run(['rm', '-rf', '--one-file-system', work],
                               timeout=7200, check=False)
            except (OSError, subprocess.SubprocessError):
                pass
            shutil.rmtree(work, ignore_errors=True)


def skopeo_version():
    try:
        out = subprocess.run(['skopeo', '--version'], capture_output=True,
                             timeout=20, text=True).stdout
        return out.split()[-1] if out else '?'
    except (OSError, subprocess.SubprocessError):
        return '?'


if __name__ == '__main__':
    main()
