#!/usr/bin/env python3
"""scale_fixture.py - writes a docker-registry (distribution 2.8)
filesystem storage tree for a large account, without any HTTP.

A real registry cannot be filled with 100,000 repositories over HTTP in
reasonable time. This writes the storage layout the filesystem driver
reads, for a few shared images referenced from N repositories x T tags:

  docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data         blob bytes
  docker/registry/v2/repositories/<repo>/
      _layers/sha256/<hex>/link                  every blob the repo may
                                                 serve (configs, layers)
      _manifests/revisions/sha256/<hex>/link     every manifest, children
                                                 of the index included
      _manifests/tags/<tag>/current/link         the tag -> digest
      _manifests/tags/<tag>/index/sha256/<hex>/link   (--tag-index only)

A `link` file holds "sha256:<hex>" and nothing else. What distribution 2.8
reads (registry/storage): GET/HEAD of a blob checks the repository's
_layers link, then reads blobs/.../data; GET/HEAD of a manifest by digest
checks _manifests/revisions; by tag it reads tags/<tag>/current/link, then
the revision; tags/list lists the directories under _manifests/tags; the
catalog walks repositories/ and takes every directory holding _layers.
The tags' index/ directories are read only to delete a manifest or to
look up the tags of a digest, so they are left out unless --tag-index
(they would add 3 directories per tag).

Every identical `link` file is a hard link to one master file under
<root>/scale-links/ (a new master each 60,000 links: ext4 allows 65,000),
so a tag or a layer link costs a directory entry, not an inode. The
directories are what costs: 50 per repository at 10 tags.

Names (the same as tests/fakes/fake_tc_api.py's "generate" option):
repository k (0 <= k < N) is "ns%04d/app%05d" % (k % namespaces, k), its
tags are v1 .. vT, and tag vt of repository k is image (k + t - 1) % 5 of
IMAGES below.

  python3 bench/scale_fixture.py --root DIR --repos 100000 --tags 10
  python3 bench/scale_fixture.py --root DIR --repos 1000 --tags 3 --check

DIR is the registry's storage rootdirectory. --check then serves it with a
real docker-registry on 127.0.0.1 and checks the catalog, tag lists,
manifests by tag and by digest (skopeo inspect) and a `skopeo copy --all`
of a few random repositories into a fresh registry. Prints one JSON line
of figures (seconds, directories and links written, inodes used).
"""

import argparse
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import time

sys.dont_write_bytecode = True

MT_V2S2 = 'application/vnd.docker.distribution.manifest.v2+json'
MT_OCI = 'application/vnd.oci.image.manifest.v1+json'
MT_INDEX = 'application/vnd.oci.image.index.v1+json'
MT_DCONF = 'application/vnd.docker.container.image.v1+json'
MT_DLAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip'
MT_OCONF = 'application/vnd.oci.image.config.v1+json'
MT_OLAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
ACCEPT = ', '.join((MT_V2S2, MT_OCI, MT_INDEX,
                    'application/vnd.docker.distribution.manifest.list.v2'
                    '+json'))

N_IMAGES = 5
LINK_MAX = 60000  # hard links per master file (ext4 allows 65,000)


def repo_name(k, namespaces):
    """Repository k of the account (0-based)."""
    return 'ns%04d/app%05d' % (k % namespaces, k)


def tag_name(t):
    """Tag t (1-based)."""
    return 'v%d' % t


def image_of(k, t):
    """Index into IMAGES of tag t (1-based) of repository k."""
    return (k + t - 1) % N_IMAGES


def digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _layer(seed, size):
    """A small real tar.gz (one file of deterministic bytes; fixed times,
    so the digests never change)."""
    data = b''
    block = ('layer-%d' % seed).encode()
    while len(data) < size:
        block = hashlib.sha256(block).digest()
        data += block
    data = data[:size]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.USTAR_FORMAT) \
            as tf:
        info = tarfile.TarInfo('data/layer-%d.bin' % seed)
        info.size = len(data)
        info.mtime = 1704067200
        tf.addfile(info, io.BytesIO(data))
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode='wb', compresslevel=6, mtime=0) as g:
        g.write(raw.getvalue())
    return gz.getvalue()


def _image(blobs, layers, oci, arch, label):
    """An image manifest over `layers` (bytes) with its config; adds the
    blobs; returns (manifest bytes, media type)."""
    diff_ids = [digest(gzip.decompress(b)) for b in layers]
    config = json.dumps({
        'architecture': arch, 'os': 'linux',
        'created': '2024-01-01T00:00:00Z',
        'config': {'Env': ['PATH=/usr/bin:/bin'], 'Labels': {'img': label}},
        'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
        'history': [{'created': '2024-01-01T00:00:00Z',
                     'created_by': 'layer %d' % i}
                    for i in range(len(layers))],
    }, sort_keys=True).encode()
    blobs[digest(config)] = config
    for b in layers:
        blobs[digest(b)] = b
    m = {'schemaVersion': 2, 'mediaType': MT_OCI if oci else MT_V2S2,
         'config': {'mediaType': MT_OCONF if oci else MT_DCONF,
                    'size': len(config), 'digest': digest(config)},
         'layers': [{'mediaType': MT_OLAYER if oci else MT_DLAYER,
                     'size': len(b), 'digest': digest(b)} for b in layers]}
    return json.dumps(m, indent=3).encode(), m['mediaType']


def build_images():
    """The 5 shared images. Returns (images, blobs, manifests):
    images[i] = {'digest', 'media_type', 'blobs': [digests],
    'manifests': [digests, root last]}; blobs = {digest: bytes};
    manifests = {digest: bytes}. Images 0-3 share a base layer; image 3 is
    an OCI image manifest; image 4 is an OCI index of linux/amd64 (on the
    base layer) and linux/arm64/v8."""
    blobs, manifests, images = {}, {}, []
    base = _layer(1, 3000)

    def add(layers, oci, arch, label):
        body, mt = _image(blobs, layers, oci, arch, label)
        manifests[digest(body)] = body
        m = json.loads(body)
        return {'digest': digest(body), 'media_type': mt,
                'blobs': [m['config']['digest']] +
                         [x['digest'] for x in m['layers']],
                'manifests': [digest(body)]}

    images.append(add([base, _layer(10, 2000)], False, 'amd64', 'img0'))
    images.append(add([base, _layer(11, 2500), _layer(12, 1500)], False,
                      'amd64', 'img1'))
    images.append(add([base, _layer(13, 1800)], False, 'amd64', 'img2'))
    images.append(add([base, _layer(14, 2200), _layer(15, 1200)], True,
                      'amd64', 'img3'))
    amd = add([base, _layer(16, 2100)], True, 'amd64', 'img4-amd64')
    arm = add([_layer(17, 2600), _layer(18, 900)], True, 'arm64',
              'img4-arm64')
    descs = []
    for child, plat in ((amd, {'architecture': 'amd64', 'os': 'linux'}),
                        (arm, {'architecture': 'arm64', 'os': 'linux',
                               'variant': 'v8'})):
        descs.append({'mediaType': MT_OCI,
                      'size': len(manifests[child['digest']]),
                      'digest': child['digest'], 'platform': plat})
    index = json.dumps({'schemaVersion': 2, 'mediaType': MT_INDEX,
                        'manifests': descs}, indent=2).encode()
    manifests[digest(index)] = index
    images.append({'digest': digest(index), 'media_type': MT_INDEX,
                   'blobs': sorted(set(amd['blobs'] + arm['blobs'])),
                   'manifests': amd['manifests'] + arm['manifests'] +
                                [digest(index)]})
    return images, blobs, manifests


def expected_tags(k, tags):
    """{tag: manifest digest} of repository k with `tags` tags."""
    images, _, _ = IMAGE_SET
    return {tag_name(t): images[image_of(k, t)]['digest']
            for t in range(1, tags + 1)}


IMAGE_SET = build_images()


class Links:
    """Master `link` files, one per digest, hard-linked into place; a new
    master when one has LINK_MAX links."""

    def __init__(self, root, job=0):
        self.job = job
        path = os.path.join(root, 'scale-links')
        os.makedirs(path, exist_ok=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        self.master = {}  # digest -> [name in scale-links, links so far]
        self.masters = 0

    def close(self):
        os.close(self.fd)

    def _new(self, dgst):
        self.masters += 1
        name = '%s-%d-%d' % (dgst.split(':')[1], self.job, self.masters)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644,
                     dir_fd=self.fd)
        try:
            os.write(fd, dgst.encode())
        finally:
            os.close(fd)
        self.master[dgst] = [name, 0]
        return self.master[dgst]

    def link(self, dgst, dest, dir_fd):
        """Links the master of dgst to dest (relative to dir_fd)."""
        m = self.master.get(dgst) or self._new(dgst)
        if m[1] >= LINK_MAX:
            m = self._new(dgst)
        os.link(m[0], dest, src_dir_fd=self.fd, dst_dir_fd=dir_fd)
        m[1] += 1


def repo_template(k, tags, tag_index):
    """(directories, [(digest, link path)]) of repository k, relative to
    its directory, parents first."""
    images, _, _ = IMAGE_SET
    used = sorted({image_of(k, t) for t in range(1, tags + 1)})
    blobs = sorted({b for i in used for b in images[i]['blobs']})
    mans = sorted({m for i in used for m in images[i]['manifests']})
    dirs = ['_layers', '_layers/sha256', '_manifests',
            '_manifests/revisions', '_manifests/revisions/sha256',
            '_manifests/tags']
    links = []
    for b in blobs:
        d = '_layers/sha256/' + b.split(':')[1]
        dirs.append(d)
        links.append((b, d + '/link'))
    for m in mans:
        d = '_manifests/revisions/sha256/' + m.split(':')[1]
        dirs.append(d)
        links.append((m, d + '/link'))
    for t in range(1, tags + 1):
        m = images[image_of(k, t)]['digest']
        d = '_manifests/tags/' + tag_name(t)
        dirs += [d, d + '/current']
        links.append((m, d + '/current/link'))
        if tag_index:
            x = d + '/index/sha256/' + m.split(':')[1]
            dirs += [d + '/index', d + '/index/sha256', x]
            links.append((m, x + '/link'))
    return dirs, links


def _default_signals():
    """A worker dies quietly on SIGTERM/SIGINT, whatever handlers the
    importing program (bench/run.py) installed before the fork."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles it


def _write_repos(job):
    """Writes the repositories k = first + j, first + j + jobs, ... below
    rroot (one process of generate()). Returns (directories, links, link
    masters)."""
    root, rroot, first, repos, jobs, j, tags, namespaces, tag_index = job
    links = Links(root, j)
    templates = {}  # k % 5 -> template (all that varies with k)
    n_dirs = n_links = 0
    try:
        for k in range(first + j, repos, jobs):
            key = k % N_IMAGES
            tpl = templates.get(key)
            if tpl is None:
                tpl = templates[key] = repo_template(k, tags, tag_index)
            base = os.path.join(rroot, repo_name(k, namespaces))
            try:
                os.mkdir(base)
            except FileExistsError:
                shutil.rmtree(base)  # rewritten whole: no stale tags
                os.mkdir(base)
            # Paths relative to the repository's directory: a shorter walk
            # for the kernel than the full path each time.
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for d in tpl[0]:
                    os.mkdir(d, dir_fd=fd)
                for dgst, rel in tpl[1]:
                    links.link(dgst, rel, fd)
            finally:
                os.close(fd)
            n_dirs += 1 + len(tpl[0])
            n_links += len(tpl[1])
    finally:
        links.close()
    return n_dirs, n_links, links.masters


def generate(root, repos, tags, namespaces, tag_index=False, first=0,
             jobs=1):
    """Writes repositories first .. repos-1 under the storage root `root`
    (created if needed; the blobs are (re)written), with `jobs` processes.
    Returns figures."""
    t0 = time.monotonic()
    os.makedirs(root, exist_ok=True)
    st0 = os.statvfs(root)
    v2 = os.path.join(root, 'docker', 'registry', 'v2')
    _, blobs, manifests = IMAGE_SET
    for dgst, data in list(blobs.items()) + list(manifests.items()):
        hx = dgst.split(':')[1]
        d = os.path.join(v2, 'blobs', 'sha256', hx[:2], hx)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'data'), 'wb') as f:
            f.write(data)
    rroot = os.path.join(v2, 'repositories')
    spaces = {repo_name(k, namespaces).split('/')[0]
              for k in range(first, min(repos, first + namespaces))}
    for ns in spaces:
        os.makedirs(os.path.join(rroot, ns), exist_ok=True)
    work = [(root, rroot, first, repos, jobs, j, tags, namespaces, tag_index)
            for j in range(jobs)]
    if jobs > 1:
        ctx = multiprocessing.get_context('fork')
        pool = ctx.Pool(jobs, initializer=_default_signals)
        try:
            done = pool.map(_write_repos, work)
            pool.close()  # the workers exit on their own
        finally:
            pool.terminate()
            pool.join()
    else:
        done = [_write_repos(work[0])]
    n_dirs = sum(d[0] for d in done) + len(spaces)
    n_links = sum(d[1] for d in done)
    masters = sum(d[2] for d in done)
    wall = time.monotonic() - t0
    st1 = os.statvfs(root)
    return {'repos': repos - first, 'tags_per_repo': tags,
            'namespaces': namespaces, 'images': repos * tags - first * tags,
            'distinct_blobs': len(blobs),
            'distinct_manifests': len(manifests),
            'directories': n_dirs, 'links': n_links,
            'link_masters': masters, 'jobs': jobs,
            'inodes_used': st0.f_ffree - st1.f_ffree,
            'disk_mib_used': round((st0.f_bfree - st1.f_bfree) *
                                   st1.f_frsize / 1048576.0, 1),
            'seconds': round(wall, 2)}


# ------------------------------------------------------------ checking

def check(root, repos, tags, namespaces, samples=5, copies=3):
    """Serves `root` with a real docker-registry and checks what it serves
    (raises AssertionError with the reason). Returns figures."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(here), 'tests',
                                    'integration'))
    import harness  # noqa: E402
    t0 = time.monotonic()
    rnd = random.Random(repos * 1000 + tags)
    # harness.Registry keeps its storage in <dir>/storage: point that at
    # root without copying.
    regdir = os.path.abspath(root.rstrip('/')) + '-registry'
    os.makedirs(regdir, exist_ok=True)
    link = os.path.join(regdir, 'storage')
    if not os.path.islink(link):
        os.symlink(os.path.abspath(root), link)
    out = {}
    with harness.Registry(root=regdir) as reg, \
            harness.Registry() as dst:
        # The catalog, page by page (n=1000), in full.
        seen, last, pages = 0, None, 0
        while True:
            path = '/v2/_catalog?n=1000' + ('&last=' + last if last else '')
            st, _, body = reg.request('GET', path)
            assert st == 200, 'catalog %d' % st
            names = json.loads(body).get('repositories') or []
            pages += 1
            if not names:
                break
            for n in names:
                assert n.startswith('ns') and '/app' in n, n
            seen += len(names)
            last = names[-1]
            if len(names) < 1000:
                break
        assert seen == repos, 'catalog lists %d of %d' % (seen, repos)
        out['catalog'] = '%d repositories in %d pages' % (seen, pages)
        picks = sorted(rnd.sample(range(repos), min(samples, repos)))
        for k in picks:
            name = repo_name(k, namespaces)
            want = expected_tags(k, tags)
            st, _, body = reg.request('GET', '/v2/%s/tags/list' % name)
            got = json.loads(body).get('tags') or []
            assert st == 200 and sorted(got) == sorted(want), (name, got)
            for tag, dgst in want.items():
                for ref in (tag, dgst):
                    raw = harness.run(
                        ['skopeo', 'inspect', '--raw', '--tls-verify=false',
                         'docker://%s/%s:%s' % (reg.host, name, ref)
                         if ref == tag else
                         'docker://%s/%s@%s' % (reg.host, name, ref)],
                        timeout=60).stdout
                    assert digest(raw) == dgst, (name, ref)
                st, h, _ = reg.request('HEAD', '/v2/%s/manifests/%s' % (
                    name, tag), headers={'Accept': ACCEPT})
                assert st == 200 and \
                    h.get('Docker-Content-Digest') == dgst, (name, tag, st)
        out['inspected'] = '%d repositories, %d tags by tag and digest' % (
            len(picks), len(picks) * tags)
        copied = 0
        # Repository 4's v1 is the OCI index (image 4): always copied.
        picks = {min(4, repos - 1)} | set(rnd.sample(range(repos),
                                                     min(copies, repos)))
        for k in sorted(picks):
            name = repo_name(k, namespaces)
            for tag, dgst in expected_tags(k, tags).items():
                harness.run(['skopeo', 'copy', '--all', '--src-tls-verify='
                             'false', '--dest-tls-verify=false',
                             'docker://%s/%s:%s' % (reg.host, name, tag),
                             'docker://%s/%s:%s' % (dst.host, name, tag)],
                            timeout=120)
                raw = harness.run(['skopeo', 'inspect', '--raw',
                                   '--tls-verify=false',
                                   'docker://%s/%s:%s' % (dst.host, name,
                                                          tag)],
                                  timeout=60).stdout
                assert digest(raw) == dgst, ('copy', name, tag)
                copied += 1
        out['copied'] = '%d tags (skopeo copy --all), digests equal' % copied
    out['check_seconds'] = round(time.monotonic() - t0, 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', required=True,
                    help='the registry storage rootdirectory to write')
    ap.add_argument('--repos', type=int, required=True)
    ap.add_argument('--tags', type=int, default=1)
    ap.add_argument('--namespaces', type=int, default=100)
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 1,
                    help='processes writing repositories (default: CPUs)')
    ap.add_argument('--tag-index', action='store_true',
                    help='also write _manifests/tags/<tag>/index/')
    ap.add_argument('--check', action='store_true',
                    help='serve it with docker-registry and check it with '
                    'skopeo')
    ap.add_argument('--no-generate', action='store_true',
                    help='only --check an existing tree')
    args = ap.parse_args()
    if args.repos < 1 or args.tags < 1 or args.namespaces < 1:
        ap.error('--repos, --tags and --namespaces must be >= 1')
    os.makedirs(args.root, exist_ok=True)
    res = {}
    if not args.no_generate:
        res.update(generate(args.root, args.repos, args.tags,
                            args.namespaces, args.tag_index,
                            jobs=max(1, args.jobs)))
    if args.check:
        res.update(check(args.root, args.repos, args.tags, args.namespaces))
    print(json.dumps(res, sort_keys=True), flush=True)


if __name__ == '__main__':
    main()
