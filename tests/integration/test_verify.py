"""--verify[=deep] (issue 13) against real docker-registry processes: each
verdict (identical, missing, different, incomplete, error), exit codes, the
report, and the repair through the journal (a copy rerun trusts the journal;
verify drops what does not match, so the next copy run repairs it)."""
import base64
import hashlib
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_ccr  # noqa: E402
from harness import Registry, seed_image, skopeo_raw  # noqa: E402


def run_it(args, timeout=300):
    return harness.run_binary(
        args, timeout=timeout,
        unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'),
        home=os.environ.get('IT_TEST_HOME'))


def secrets_yaml(*regs):
    return ''.join('%s:\n  insecure: true\n' % r.host for r in regs)


def storage(reg, *parts):
    return os.path.join(reg.dir, 'storage', 'docker', 'registry', 'v2',
                        *parts)


def delete_tag(reg, repo, tag):
    """The tag gone from the registry's storage (its manifest stays)."""
    shutil.rmtree(storage(reg, 'repositories', repo, '_manifests', 'tags',
                          tag))


def delete_blob_data(reg, digest):
    """The blob's bytes gone from the registry's storage (the repository
    still links it): HEAD answers 404."""
    hexd = digest.split(':', 1)[1]
    os.unlink(storage(reg, 'blobs', 'sha256', hexd[:2], hexd, 'data'))


def by_tag(report):
    return {img['target'].rsplit(':', 1)[1]: img for img in report['images']}


class VerifyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.dst = Registry().start()
        cls.img = {}
        for tag, kind, seed in (('same', 'v2s2', 11), ('over', 'v2s2', 12),
                                ('gone', 'oci', 13), ('idx', 'index', 14),
                                ('deep', 'v2s2', 15)):
            cls.img[tag] = seed_image(cls.src, 'app', tag, kind=kind,
                                      seed=seed)

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def workdir(self):
        w = harness.Workdir(prefix='it-verify-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, rules, *extra):
        return ['--securityFile',
                w.write('registry-secret.yaml',
                        secrets_yaml(self.src, self.dst)),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--qps=0', '--routines=3'] + list(extra)

    def test_1_verdicts_and_repair(self):
        w = self.workdir()
        rules = '%s/app: %s/app\n' % (self.src.host, self.dst.host)
        rc, out, err = run_it(self.args(w, rules))
        self.assertEqual(rc, 0, out + err)

        # Right after the copy: everything identical, exit 0.
        rc, out, err = run_it(self.args(w, rules, '--verify'))
        self.assertEqual(rc, 0, out + err)
        self.assertIn('verify: 5 identical, 0 missing, 0 different, '
                      '0 incomplete, 0 errors', out)
        self.assertIn('identical %s/app:same -> %s/app:same' % (
            self.src.host, self.dst.host), err)
        self.assertNotIn('skipped', err)
        rep = w.load_report()
        self.assertEqual(rep['summary']['verify'],
                         {'depth': 'shallow', 'identical': 5, 'missing': 0,
                          'different': 0, 'incomplete': 0, 'errors': 0})
        for img in rep['images']:
            self.assertEqual(img['status'], 'identical', img)
            self.assertEqual(img['source_digest'], img['target_digest'])
            self.assertIsNone(img['error'], img)  # identical is no error

        # Someone pushes another image over a target tag. Today a copy
        # rerun trusts the journal and does not notice (one HEAD on the
        # source, the same digest as recorded): nothing is copied.
        intruder = seed_image(self.dst, 'app', 'over', kind='v2s2', seed=99)
        rc, out, err = run_it(self.args(w, rules))
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        self.assertEqual(rep['summary']['images_copied'], 0, rep)
        self.assertIn('journal', by_tag(rep)['over']['error'])
        self.assertEqual(skopeo_raw(self.dst, 'app', 'over'),
                         intruder['manifest'])

        # More damage: a tag deleted, an index child deleted, a blob's
        # bytes deleted from the target's storage.
        delete_tag(self.dst, 'app', 'gone')
        st, _, body = self.dst.request(
            'DELETE', '/v2/app/manifests/%s' % self.img['idx']['children'][1])
        self.assertEqual(st, 202, body)
        delete_blob_data(self.dst, self.img['deep']['blobs'][-1])

        # Shallow verify: four verdicts; the deleted blob is not looked
        # for. Nothing is written to the target.
        rc, out, err = run_it(self.args(w, rules, '--verify'))
        self.assertEqual(rc, 1, out + err)
        self.assertIn('verify: 2 identical, 1 missing, 1 different, '
                      '1 incomplete, 0 errors', out)
        tags = by_tag(w.load_report())
        self.assertEqual(tags['same']['status'], 'identical')
        self.assertEqual(tags['deep']['status'], 'identical')
        self.assertEqual(tags['gone']['status'], 'missing')
        self.assertIsNone(tags['gone']['target_digest'])
        self.assertIn('missing: the target has no', tags['gone']['error'])
        self.assertIsNone(tags['same']['error'])
        self.assertEqual(tags['over']['status'], 'different')
        self.assertEqual(tags['over']['source_digest'],
                         self.img['over']['digest'])
        self.assertEqual(tags['over']['target_digest'], intruder['digest'])
        self.assertEqual(tags['idx']['status'], 'incomplete')
        self.assertEqual(tags['idx']['missing'],
                         ['manifest ' + self.img['idx']['children'][1]])
        self.assertEqual(skopeo_raw(self.dst, 'app', 'over'),
                         intruder['manifest'])

        # Deep: the blob is found absent too.
        rc, out, err = run_it(self.args(w, rules, '--verify=deep'))
        self.assertEqual(rc, 1, out + err)
        self.assertIn('verify (deep): 1 identical, 1 missing, 1 different, '
                      '2 incomplete, 0 errors', out)
        rep = w.load_report()
        self.assertEqual(rep['summary']['verify']['depth'], 'deep')
        tags = by_tag(rep)
        self.assertEqual(tags['deep']['status'], 'incomplete')
        self.assertEqual(tags['deep']['missing'],
                         ['blob ' + self.img['deep']['blobs'][-1]])

        # The next copy run repairs all four (verify dropped them from the
        # journal, or marked them for repair).
        rc, out, err = run_it(self.args(w, rules))
        self.assertEqual(rc, 0, out + err)
        tags = by_tag(w.load_report())
        for t in ('over', 'gone', 'idx', 'deep'):
            self.assertEqual(tags[t]['status'], 'copied', tags[t])
        self.assertEqual(tags['same']['status'], 'skipped')
        for t in self.img:
            self.assertEqual(skopeo_raw(self.dst, 'app', t),
                             self.img[t]['manifest'], t)
        rc, out, err = run_it(self.args(w, rules, '--verify=deep'))
        self.assertEqual(rc, 0, out + err)
        self.assertIn('verify (deep): 5 identical, 0 missing, 0 different, '
                      '0 incomplete, 0 errors', out)

    def test_2_error_and_usage(self):
        w = self.workdir()
        # A source tag that does not exist cannot be checked: error.
        rules = '%s/app:nosuch: %s/app\n' % (self.src.host, self.dst.host)
        rc, out, err = run_it(self.args(w, rules, '--verify'))
        self.assertEqual(rc, 1, out + err)
        self.assertIn('0 incomplete, 1 errors', out)
        img = w.load_report()['images'][0]
        self.assertEqual(img['status'], 'error')
        self.assertIn('check source', img['error'])
        # --verify with --dry-run is a usage error.
        rc, out, err = run_it(self.args(w, rules, '--verify', '--dry-run'))
        self.assertEqual(rc, 2, out + err)
        self.assertIn('--verify and --dry-run', err)


def schema_tag(digest, suffix=''):
    return 'sha256-' + digest.split(':', 1)[1] + suffix


class ReferrersVerifyTest(unittest.TestCase):
    """--verify=deep checks every referrer (docker-registry 2.8 serves no
    referrers API: the tag schema and cosign's tags are looked at)."""

    def workdir(self):
        w = harness.Workdir(prefix='it-verify-ref-')
        self.addCleanup(w.cleanup)
        return w

    def test_deep_finds_missing_referrer_rerun_repairs(self):
        import test_referrers  # noqa: E402 (its artifact helpers)
        with Registry() as src, Registry() as dst:
            repo = 'team/signed'
            img = seed_image(src, repo, 'v1', kind='oci', seed=1701)
            subj = {'mediaType': img['media_type'], 'digest': img['digest'],
                    'size': len(img['manifest'])}
            sbom = test_referrers.artifact(
                src, repo, 'application/spdx+json',
                b'{"spdxVersion":"SPDX-2.3"}', subject=subj,
                layer_mt='application/spdx+json')
            sbom_d = harness.push_manifest(src, repo,
                                           harness.sha256_digest(sbom), sbom,
                                           harness.MT['oci'])
            test_referrers.put_tag_schema(
                src, repo, img['digest'],
                [(sbom_d, len(sbom), 'application/spdx+json')])
            sig = test_referrers.artifact(
                src, repo, 'application/vnd.dev.cosign.artifact.sig.v1+json',
                b'{"critical":{}}')
            harness.push_manifest(src, repo, schema_tag(img['digest'], '.sig'),
                                  sig, harness.MT['oci'])
            w = self.workdir()
            rules = '%s/%s:v1: %s/%s\n' % (src.host, repo, dst.host, repo)
            args = ['--securityFile',
                    w.write('registry-secret.yaml', secrets_yaml(src, dst)),
                    '--ruleFile', w.write('transfer-rule.yaml', rules),
                    '--state-dir', w.state, '--report=' + w.report,
                    '--no-tui', '--qps=0', '--routines=2']
            rc, out, err = run_it(args)
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(w.load_report()['summary']['referrers_copied'],
                             2)
            rc, out, err = run_it(args + ['--verify=deep'])
            self.assertEqual(rc, 0, out + err)
            self.assertIn('verify (deep): 1 identical', out)

            # The SBOM deleted on the target: deep verify names it.
            st, _, body = dst.request(
                'DELETE', '/v2/%s/manifests/%s' % (repo, sbom_d))
            self.assertEqual(st, 202, body)
            rc, out, err = run_it(args + ['--verify=deep'])
            self.assertEqual(rc, 1, out + err)
            self.assertIn('verify (deep): 0 identical, 0 missing, '
                          '0 different, 1 incomplete, 0 errors', out)
            img_rep = w.load_report()['images'][0]
            self.assertEqual(img_rep['status'], 'incomplete', img_rep)
            self.assertEqual(img_rep['missing'], ['referrer ' + sbom_d])
            # shallow verify does not look at referrers
            rc, out, err = run_it(args + ['--verify'])
            self.assertEqual(rc, 0, out + err)
            # nor does deep verify with --referrers=false
            rc, out, err = run_it(args + ['--verify=deep',
                                          '--referrers=false'])
            self.assertEqual(rc, 0, out + err)

            # The copy rerun puts it back; deep verify is satisfied.
            rc, out, err = run_it(args)
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(skopeo_raw(dst, repo, sbom_d), sbom)
            rc, out, err = run_it(args + ['--verify=deep'])
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(w.load_report()['images'][0]['status'],
                             'identical')


class PlatformsVerifyTest(unittest.TestCase):
    """--verify with --platforms (or a rule's platforms:) accepts the
    filtered index the copy pushed; an image the filter does not select is
    not selected, not missing."""

    def workdir(self):
        w = harness.Workdir(prefix='it-verify-plat-')
        self.addCleanup(w.cleanup)
        return w

    def test_filtered_index_identical(self):
        import test_platforms  # noqa: E402 (push_image)
        with Registry() as src, Registry() as dst:
            idx = seed_image(src, 'multi', 'idx', kind='index', seed=1801)
            test_platforms.push_image(src, 'multi', 's390x', None, 1802,
                                      tag='s390x-only')
            w = self.workdir()
            secrets = w.write('registry-secret.yaml', secrets_yaml(src, dst))
            base = ['--securityFile', secrets, '--state-dir', w.state,
                    '--report=' + w.report, '--no-tui', '--qps=0',
                    '--routines=2']
            flat = base + ['--ruleFile', w.write(
                'transfer-rule.yaml',
                '%s/multi: %s/multi\n' % (src.host, dst.host))]
            rc, out, err = run_it(flat + ['--platforms=linux/arm64'])
            self.assertEqual(rc, 0, out + err)
            target = json.loads(skopeo_raw(dst, 'multi', 'idx'))
            self.assertEqual(len(target['manifests']), 1)

            # Without the filter the target index is another one.
            rc, out, err = run_it(flat + ['--verify'])
            self.assertEqual(rc, 1, out + err)
            self.assertIn('1 different', out)

            for extra, rules in (
                    (['--platforms=linux/arm64'], None),
                    (['--platforms=linux/arm64', '--verify=deep'], None),
                    ([], '%s/multi:\n  target: %s/multi\n'
                         '  platforms: [linux/arm64]\n' % (src.host,
                                                           dst.host))):
                args = flat if rules is None else base + [
                    '--ruleFile', w.write('rules2.yaml', rules)]
                if '--verify=deep' not in extra:
                    extra = extra + ['--verify']
                rc, out, err = run_it(args + extra)
                self.assertEqual(rc, 0, (extra, out + err))
                self.assertIn('1 identical, 0 missing, 0 different, '
                              '0 incomplete, 0 errors, '
                              '1 not selected (platform)', out)
                tags = by_tag(w.load_report())
                self.assertEqual(tags['idx']['status'], 'identical')
                self.assertEqual(tags['idx']['source_digest'], idx['digest'])
                self.assertEqual(tags['idx']['target_digest'],
                                 harness.sha256_digest(
                                     skopeo_raw(dst, 'multi', 'idx')))
                self.assertNotEqual(tags['idx']['target_digest'],
                                    idx['digest'])
                self.assertTrue(tags['idx']['filtered'])
                self.assertEqual(tags['s390x-only']['status'], 'skipped')
                self.assertIn('not selected (platform)',
                              tags['s390x-only']['error'])

            # The kept child deleted on the target: incomplete, exit 1; the
            # copy rerun with the filter repairs it (the journal and the
            # tag's digest would settle it otherwise); verify says 0.
            arm64 = idx['children'][1]
            st, _, body = dst.request('DELETE',
                                      '/v2/multi/manifests/%s' % arm64)
            self.assertEqual(st, 202, body)
            plat = ['--platforms=linux/arm64']
            rc, out, err = run_it(flat + plat + ['--verify'])
            self.assertEqual(rc, 1, out + err)
            tags = by_tag(w.load_report())
            self.assertEqual(tags['idx']['status'], 'incomplete')
            self.assertEqual(tags['idx']['missing'], ['manifest ' + arm64])
            rc, out, err = run_it(flat + plat)
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(by_tag(w.load_report())['idx']['status'],
                             'copied')
            rc, out, err = run_it(flat + plat + ['--verify'])
            self.assertEqual(rc, 0, out + err)


class CcrVerifyTest(unittest.TestCase):
    """--ccrToTcr --verify through the fake Tencent Cloud API (the setup of
    test_ccr.py): the same listing as the copy, nothing created."""

    setUpClass = classmethod(test_ccr.CcrToTcrTest.setUpClass.__func__)
    tearDownClass = classmethod(test_ccr.CcrToTcrTest.tearDownClass.__func__)
    setUp = test_ccr.CcrToTcrTest.setUp
    tearDown = test_ccr.CcrToTcrTest.tearDown
    workdir = test_ccr.CcrToTcrTest.workdir
    start = test_ccr.CcrToTcrTest.start
    args = test_ccr.CcrToTcrTest.args
    dst_catalog = test_ccr.CcrToTcrTest.dst_catalog
    assert_no_secrets = test_ccr.CcrToTcrTest.assert_no_secrets

    def test_1_fresh_target_all_missing_nothing_created(self):
        self.start()
        before = self.fake.namespaces()
        w = self.workdir()
        rc, out, err = test_ccr.run_it(self.args(w) + ['--verify'])
        self.assertEqual(rc, 1, out + err)
        n = len(test_ccr.ALL_TAGS)
        self.assertIn('verify: 0 identical, %d missing, 0 different, '
                      '0 incomplete, 0 errors' % n, out)
        self.assertNotIn('create namespace', out)
        self.assertEqual(self.fake.calls('CreateNamespace'), [])
        self.assertEqual(self.fake.namespaces(), before)
        self.assertEqual(self.dst_catalog(), [])
        rep = w.load_report()
        self.assertEqual(rep['mode'], 'ccrToTcr')
        self.assertEqual({i['status'] for i in rep['images']}, {'missing'})
        self.assert_no_secrets(w, out, err)

    def test_2_after_the_copy_identical(self):
        self.start()
        w = self.workdir()
        rc, out, err = test_ccr.run_it(self.args(w))
        self.assertEqual(rc, 0, out + err)
        self.fake.control('POST', '/__reset')
        for depth in ('--verify', '--verify=deep'):
            rc, out, err = test_ccr.run_it(self.args(w) + [depth])
            self.assertEqual(rc, 0, out + err)
            self.assertIn('%d identical, 0 missing' % len(test_ccr.ALL_TAGS),
                          out)
        self.assertEqual(self.fake.calls('CreateNamespace'), [])
        self.assert_no_secrets(w, out, err)


# ------------------------------------------------------------- schema 1

SCHEMA1 = ['compatibility:', '  schema1:', '    enabled: true']
MT_S1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws'


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()


def _der_ints(der):
    """An ECDSA signature (DER SEQUENCE of r, s) as JWS wants it: r || s."""
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    out = b''
    for _ in range(2):
        n = der[i + 1]
        out += int.from_bytes(der[i + 2:i + 2 + n], 'big').to_bytes(32, 'big')
        i += 2 + n
    return out


def sign_schema1(payload_obj, keydir):
    """A schema 1 manifest signed the libtrust way (JWS, ES256, the openssl
    CLI for the key and the signature). Returns (signed bytes, the payload
    digest: what registries name it by)."""
    key = os.path.join(keydir, 's1.key')
    if not os.path.exists(key):
        harness.run(['openssl', 'ecparam', '-name', 'prime256v1', '-genkey',
                     '-noout', '-out', key])
    spki = harness.run(['openssl', 'ec', '-in', key, '-pubout', '-outform',
                        'DER']).stdout
    pt = spki[-65:]  # 04 || x || y
    kid32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode()
    kid = ':'.join(kid32[i:i + 4] for i in range(0, 48, 4))
    body = json.dumps(payload_obj, indent=3).encode()
    flen = len(body) - 2  # before the final "\n}"
    tail = body[flen:]
    prot = b64u(json.dumps({'formatLength': flen, 'formatTail': b64u(tail),
                            'time': '2024-01-01T00:00:00Z'}).encode())
    der = harness.run(['openssl', 'dgst', '-sha256', '-sign', key],
                      input=(prot + '.' + b64u(body)).encode()).stdout
    sig = {'header': {'jwk': {'crv': 'P-256', 'kid': kid, 'kty': 'EC',
                              'x': b64u(pt[1:33]), 'y': b64u(pt[33:])},
                      'alg': 'ES256'},
           'signature': b64u(_der_ints(der)), 'protected': prot}
    sigs = json.dumps([sig], indent=3).encode().replace(b'\n', b'\n   ')
    signed = body[:flen] + b',\n   "signatures": ' + sigs + tail
    return signed, harness.sha256_digest(body)


class Schema1Test(unittest.TestCase):
    """docker-registry 2.8 with compatibility.schema1.enabled accepts
    signed schema 1 pushes and signs the manifest anew on every GET (the
    bytes, and their SHA-256, change each time; Docker-Content-Digest, the
    payload's digest, does not). The report and the journal record the
    payload digest, a rerun skips the image with one HEAD, and verify
    finds it identical although the target's signature differs."""

    @classmethod
    def setUpClass(cls):
        cls.src = Registry(extra_config=SCHEMA1).start()
        cls.dst = Registry(extra_config=SCHEMA1).start()
        layer = harness.make_layer(21, 3000)
        d = harness.push_blob(cls.src, 'old/app', layer)
        m = {'schemaVersion': 1, 'name': 'old/app', 'tag': 'v1',
             'architecture': 'amd64', 'fsLayers': [{'blobSum': d}],
             'history': [{'v1Compatibility': json.dumps(
                 {'id': 'a' * 64, 'created': '2024-01-01T00:00:00Z'})}]}
        signed, cls.digest = sign_schema1(m, cls.src.dir)
        st, h, body = cls.src.request(
            'PUT', '/v2/old/app/manifests/v1', data=signed,
            headers={'Content-Type': MT_S1})
        if st != 201:
            raise RuntimeError('schema 1 push refused: %d %r' % (st, body))
        assert h.get('Docker-Content-Digest') == cls.digest

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def test_digest_recorded_rerun_skips_verify_identical(self):
        # The registry signs again on every GET: the bytes differ.
        a = self.src.request('GET', '/v2/old/app/manifests/v1',
                             headers={'Accept': MT_S1})
        b = self.src.request('GET', '/v2/old/app/manifests/v1',
                             headers={'Accept': MT_S1})
        self.assertNotEqual(a[2], b[2])
        self.assertEqual(a[1].get('Docker-Content-Digest'), self.digest)
        w = harness.Workdir(prefix='it-verify-s1-')
        self.addCleanup(w.cleanup)
        rules = '%s/old/app:v1: %s/old/app\n' % (self.src.host,
                                                  self.dst.host)
        args = ['--securityFile',
                w.write('registry-secret.yaml',
                        secrets_yaml(self.src, self.dst)),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--qps=0']
        rc, out, err = run_it(args)
        self.assertEqual(rc, 0, out + err)
        img = w.load_report()['images'][0]
        self.assertEqual(img['status'], 'copied', img)
        self.assertEqual(img['digest'], self.digest)
        self.assertIn(self.digest, w.journal())
        st, h, _ = self.dst.request('HEAD', '/v2/old/app/manifests/v1',
                                    headers={'Accept': MT_S1})
        self.assertEqual(h.get('Docker-Content-Digest'), self.digest)
        # `repo@<digest>` resolves on both sides.
        for reg in (self.src, self.dst):
            st, _, _ = reg.request(
                'HEAD', '/v2/old/app/manifests/' + self.digest,
                headers={'Accept': MT_S1})
            self.assertEqual(st, 200)
        # The rerun skips it like any image: the journal's digest is the
        # source's.
        rc, out, err = run_it(args)
        self.assertEqual(rc, 0, out + err)
        img = w.load_report()['images'][0]
        self.assertEqual(img['status'], 'skipped', img)
        self.assertIn('journal', img['error'])
        # Identical: same payload digest, whatever the signatures.
        for depth in ('--verify', '--verify=deep'):
            rc, out, err = run_it(args + [depth])
            self.assertEqual(rc, 0, out + err)
            img = w.load_report()['images'][0]
            self.assertEqual(img['status'], 'identical', img)
            self.assertEqual(img['source_digest'], self.digest)
            self.assertEqual(img['target_digest'], self.digest)


if __name__ == '__main__':
    unittest.main(verbosity=2)
