"""--platforms end to end (issue 14): a multi-platform index on a real
docker-registry copied with a platform filter; the target gets a new index
holding only the chosen platforms (checked with skopeo), the other
platforms' blobs never reach it, a single image of another platform is
skipped and counted, a rerun is settled by the journal, and a changed
filter copies again."""
import gzip
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Registry, make_layer, push_blob, push_manifest,  # noqa
                     skopeo_raw, sha256_digest)

MT_INDEX = 'application/vnd.oci.image.index.v1+json'
MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
MT_CONFIG = 'application/vnd.oci.image.config.v1+json'
MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'

PLATFORMS = [('amd64', None), ('arm', 'v7'), ('arm64', 'v8'),
             ('s390x', None)]


def run_it(args, timeout=300):
    return harness.run_binary(
        args, timeout=timeout,
        unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'),
        home=os.environ.get('IT_TEST_HOME'))


def push_image(reg, repo, arch, variant, seed, tag=None):
    """An OCI image of one platform with a layer of its own; returns
    (manifest digest, manifest bytes, [config digest, layer digest])."""
    layer = make_layer(seed, 6 * 1024, compresslevel=1)
    cfg = {'architecture': arch, 'os': 'linux',
           'rootfs': {'type': 'layers',
                      'diff_ids': [sha256_digest(gzip.decompress(layer))]}}
    if variant:
        cfg['variant'] = variant
    cfg = json.dumps(cfg, sort_keys=True).encode()
    cdig = push_blob(reg, repo, cfg)
    ldig = push_blob(reg, repo, layer)
    body = json.dumps({
        'schemaVersion': 2, 'mediaType': MT_MANIFEST,
        'config': {'mediaType': MT_CONFIG, 'size': len(cfg), 'digest': cdig},
        'layers': [{'mediaType': MT_LAYER, 'size': len(layer),
                    'digest': ldig}]}, indent=2).encode()
    mdig = push_manifest(reg, repo, tag or sha256_digest(body), body,
                         MT_MANIFEST)
    return mdig, body, [cdig, ldig]


class PlatformsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.dst = Registry().start()
        cls.children = []
        descs = []
        for i, (arch, variant) in enumerate(PLATFORMS):
            d, body, blobs = push_image(cls.src, 'multi/app', arch, variant,
                                        500 + i)
            cls.children.append({'arch': arch, 'variant': variant,
                                 'digest': d, 'blobs': blobs})
            plat = {'architecture': arch, 'os': 'linux'}
            if variant:
                plat['variant'] = variant
            descs.append({'mediaType': MT_MANIFEST, 'size': len(body),
                          'digest': d, 'platform': plat,
                          'annotations': {'org.example.n': str(i)}})
        cls.index = json.dumps({
            'schemaVersion': 2, 'mediaType': MT_INDEX, 'manifests': descs,
            'annotations': {'org.opencontainers.image.version': '1.0'}},
            indent=2).encode()
        cls.index_digest = push_manifest(cls.src, 'multi/app', '1.0',
                                         cls.index, MT_INDEX)
        push_image(cls.src, 'multi/app', 's390x', None, 600, tag='s390x-only')
        push_image(cls.src, 'multi/app', 'amd64', None, 601, tag='amd64-only')

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def workdir(self):
        w = harness.Workdir(prefix='it-platforms-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, platforms, dst_repo='mirror/app', extra=(),
             src_repo='multi/app'):
        secrets = ''.join('%s:\n  insecure: true\n' % r.host
                          for r in (self.src, self.dst))
        rules = '%s/%s: %s/%s\n' % (self.src.host, src_repo, self.dst.host,
                                    dst_repo)
        return (['--securityFile', w.write('registry-secret.yaml', secrets),
                 '--ruleFile', w.write('transfer-rule.yaml', rules),
                 '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                 '--routines=4'] +
                (['--platforms=' + platforms] if platforms else []) +
                list(extra))

    def blob_on_dst(self, repo, digest):
        status, _, _ = self.dst.request(
            'HEAD', '/v2/%s/blobs/%s' % (repo, digest),
            scope='repository:%s:pull' % repo)
        return status == 200

    def by_tag(self, rep):
        return {i['source'].rsplit(':', 1)[1]: i for i in rep['images']}

    def test_1_filter_then_rerun_then_change(self):
        w = self.workdir()
        rc, out, err = run_it(self.args(w, 'linux/amd64,linux/arm64'))
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        imgs = self.by_tag(rep)

        # the index: a new one with exactly the two chosen children
        raw = skopeo_raw(self.dst, 'mirror/app', '1.0')
        got = json.loads(raw)
        self.assertEqual([m['digest'] for m in got['manifests']],
                         [self.children[0]['digest'],
                          self.children[2]['digest']])
        self.assertEqual(got['mediaType'], MT_INDEX)
        self.assertEqual(got['annotations'],
                         {'org.opencontainers.image.version': '1.0'})
        self.assertEqual(got['manifests'][1]['annotations'],
                         {'org.example.n': '2'})
        one = imgs['1.0']
        self.assertEqual(one['status'], 'copied', one)
        self.assertEqual(one['digest'], self.index_digest)
        self.assertEqual(one['target_digest'], sha256_digest(raw))
        self.assertNotEqual(one['target_digest'], self.index_digest)
        self.assertEqual(one['platforms'], ['linux/amd64', 'linux/arm64/v8'])
        self.assertTrue(one['filtered'])

        # the other platforms' manifests and blobs never reached the target
        for i, c in enumerate(self.children):
            want = i in (0, 2)
            for b in c['blobs']:
                self.assertEqual(self.blob_on_dst('mirror/app', b), want,
                                 (c['arch'], b))
            status, _, _ = self.dst.request(
                'HEAD', '/v2/mirror/app/manifests/' + c['digest'],
                headers={'Accept': MT_MANIFEST},
                scope='repository:mirror/app:pull')
            self.assertEqual(status == 200, want, c['arch'])

        # each kept child inspects, and the whole index copies with skopeo
        for i in (0, 2):
            out2 = harness.run(
                ['skopeo', 'inspect', '--tls-verify=false',
                 'docker://%s/mirror/app@%s' % (self.dst.host,
                                                self.children[i]['digest'])],
                timeout=60).stdout
            self.assertEqual(json.loads(out2)['Architecture'],
                             self.children[i]['arch'])
        dest = os.path.join(w.dir, 'oci-copy')
        harness.run(['skopeo', 'copy', '--all', '--src-tls-verify=false',
                     'docker://%s/mirror/app:1.0' % self.dst.host,
                     'oci:' + dest], timeout=120)
        with open(os.path.join(dest, 'index.json')) as f:
            self.assertEqual(len(json.load(f)['manifests']), 1)

        # single images: the other platform skipped and counted
        self.assertEqual(imgs['s390x-only']['status'], 'skipped')
        self.assertIn('no matching platform', imgs['s390x-only']['error'])
        self.assertEqual(imgs['amd64-only']['status'], 'copied')
        self.assertEqual(rep['summary']['images_platform_filtered'], 1, rep)
        self.assertEqual(rep['summary']['images_platform_skipped'], 1, rep)
        self.assertIn('1 images platform-filtered, 1 skipped: no matching '
                      'platform', out + err)

        # a rerun with the same filter (spelled otherwise): the journal
        rc, out, err = run_it(self.args(w, 'linux/aarch64,linux/x86_64'))
        self.assertEqual(rc, 0, out + err)
        imgs = self.by_tag(w.load_report())
        self.assertEqual(imgs['1.0']['status'], 'skipped', imgs['1.0'])
        self.assertIn('journal', imgs['1.0']['error'])
        self.assertEqual(imgs['1.0']['target_digest'], sha256_digest(raw))

        # a changed filter copies again (the tag exists: needs override)
        rc, out, err = run_it(self.args(w, 'linux/arm/v7',
                                        extra=['--tag-exist-overridden']))
        self.assertEqual(rc, 0, out + err)
        imgs = self.by_tag(w.load_report())
        self.assertEqual(imgs['1.0']['status'], 'copied', imgs['1.0'])
        got = json.loads(skopeo_raw(self.dst, 'mirror/app', '1.0'))
        self.assertEqual([m['digest'] for m in got['manifests']],
                         [self.children[1]['digest']])

    def test_2_no_filter_byte_for_byte(self):
        w = self.workdir()
        rc, out, err = run_it(self.args(w, None, dst_repo='whole/app'))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(skopeo_raw(self.dst, 'whole/app', '1.0'), self.index)
        self.assertNotIn('target_digest', self.by_tag(w.load_report())['1.0'])

    def test_3_invalid_spec_is_usage_error(self):
        w = self.workdir()
        rc, out, err = run_it(self.args(w, 'linux/amd46'))
        self.assertEqual(rc, 2, out + err)
        self.assertIn('--platforms', err)
        self.assertIn('unknown architecture', err)

    def push_attestation(self, repo, of_digest, seed):
        """A buildx attestation manifest (an in-toto statement as its one
        layer) describing the child of_digest; returns (digest, bytes)."""
        stmt = json.dumps({'_type': 'https://in-toto.io/Statement/v0.1',
                           'predicateType': 'https://spdx.dev/Document',
                           'subject': [{'name': 'x', 'digest': {
                               'sha256': of_digest.split(':')[1]}}],
                           'predicate': {'n': seed}}).encode()
        cfg = b'{"architecture":"unknown","os":"unknown","rootfs":{}}'
        cdig = push_blob(self.src, repo, cfg)
        sdig = push_blob(self.src, repo, stmt)
        body = json.dumps({
            'schemaVersion': 2, 'mediaType': MT_MANIFEST,
            'config': {'mediaType': MT_CONFIG, 'size': len(cfg),
                       'digest': cdig},
            'layers': [{'mediaType': 'application/vnd.in-toto+json',
                        'size': len(stmt), 'digest': sdig,
                        'annotations': {'in-toto.io/predicate-type':
                                        'https://spdx.dev/Document'}}]}
        ).encode()
        return push_manifest(self.src, repo, sha256_digest(body), body,
                             MT_MANIFEST), body

    def test_4_buildx_attestations_follow_their_platform(self):
        """buildx's index: 2 platforms + 2 attestation manifests
        (platform unknown/unknown, annotations naming their child). With
        --platforms=linux/amd64 the target index holds the amd64 child and
        its attestation only, and reports one platform."""
        repo = 'buildx/app'
        descs, atts, kids = [], [], []
        for i, arch in enumerate(('amd64', 'arm64')):
            d, body, _ = push_image(self.src, repo, arch, None, 700 + i)
            kids.append(d)
            descs.append({'mediaType': MT_MANIFEST, 'size': len(body),
                          'digest': d, 'platform': {'architecture': arch,
                                                    'os': 'linux'}})
        for i, d in enumerate(kids):
            a, body = self.push_attestation(repo, d, i)
            atts.append(a)
            descs.append({
                'mediaType': MT_MANIFEST, 'size': len(body), 'digest': a,
                'platform': {'architecture': 'unknown', 'os': 'unknown'},
                'annotations': {
                    'vnd.docker.reference.digest': d,
                    'vnd.docker.reference.type': 'attestation-manifest'}})
        push_manifest(self.src, repo, 'v1', json.dumps({
            'schemaVersion': 2, 'mediaType': MT_INDEX,
            'manifests': descs}).encode(), MT_INDEX)

        w = self.workdir()
        rc, out, err = run_it(self.args(w, 'linux/amd64', src_repo=repo,
                                        dst_repo='buildx/app'))
        self.assertEqual(rc, 0, out + err)
        one = self.by_tag(w.load_report())['v1']
        self.assertEqual(one['status'], 'copied', one)
        self.assertEqual(one['platforms'], ['linux/amd64'])
        got = json.loads(skopeo_raw(self.dst, repo, 'v1'))
        self.assertEqual([m['digest'] for m in got['manifests']],
                         [kids[0], atts[0]])
        self.assertEqual(got['manifests'][1]['annotations'][
            'vnd.docker.reference.digest'], kids[0])
        for d, want in ((kids[0], True), (atts[0], True), (kids[1], False),
                        (atts[1], False)):
            status, _, _ = self.dst.request(
                'HEAD', '/v2/%s/manifests/%s' % (repo, d),
                headers={'Accept': MT_MANIFEST},
                scope='repository:%s:pull' % repo)
            self.assertEqual(status == 200, want, d)


if __name__ == '__main__':
    unittest.main(verbosity=2)
