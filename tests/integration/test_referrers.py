"""Issue 13: referrers (signatures, SBOMs, attestations) travel with their
images, and foreign layers are never fetched. Real docker-registry 2.8
processes (which do not serve the referrers API, so the fallback paths run:
the referrers tag schema and cosign's tags), checked with skopeo."""
import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'fakes'))
import harness  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from referrers_proxy import ReferrersProxy  # noqa: E402
from harness import (MT, Registry, make_layer, push_blob,  # noqa: E402
                     push_manifest, seed_image, sha256_digest, skopeo_raw)

EMPTY = 'application/vnd.oci.empty.v1+json'
FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
URLS_ALLOW = ['validation:', '  manifests:', '    urls:',
              '      allow:', "        - '^https?://'"]


def run_it(args, timeout=300):
    return harness.run_binary(
        args, timeout=timeout, unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'),
        home=os.environ.get('IT_TEST_HOME'))


def secrets_yaml(*regs):
    return ''.join('%s:\n  insecure: true\n' % r.host for r in regs)


def schema_tag(digest, suffix=''):
    return 'sha256-' + digest.split(':', 1)[1] + suffix


def artifact(reg, repo, artifact_type, payload, subject=None, layer_mt=None):
    """An OCI artifact: the 2-byte empty config, one layer, artifactType,
    and a subject (a descriptor dict) or none. Returns the manifest
    bytes (the caller pushes them)."""
    empty = push_blob(reg, repo, b'{}')
    layer = push_blob(reg, repo, payload)
    m = {'schemaVersion': 2, 'mediaType': MT['oci'],
         'artifactType': artifact_type,
         'config': {'mediaType': EMPTY, 'digest': empty, 'size': 2},
         'layers': [{'mediaType': layer_mt or 'application/octet-stream',
                     'digest': layer, 'size': len(payload)}],
         'annotations': {'org.opencontainers.image.created':
                         '2024-01-01T00:00:00Z'}}
    if subject:
        m['subject'] = subject
    body = json.dumps(m).encode()
    return body


def put_tag_schema(reg, repo, subject_digest, referrers):
    """The referrers tag schema index of subject: referrers are
    (digest, size, artifactType)."""
    idx = {'schemaVersion': 2, 'mediaType': MT['index'],
           'manifests': [{'mediaType': MT['oci'], 'digest': d, 'size': n,
                          'artifactType': at} for d, n, at in referrers]}
    push_manifest(reg, repo, schema_tag(subject_digest),
                  json.dumps(idx).encode(), MT['index'])


class ReferrersTest(unittest.TestCase):

    def workdir(self):
        w = harness.Workdir(prefix='it-referrers-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, regs, rules, *more):
        return ['--securityFile', w.write('registry-secret.yaml',
                                          secrets_yaml(*regs)),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--routines=2'] + list(more)

    def same(self, src, dst, repo, ref):
        want = skopeo_raw(src, repo, ref)
        got = skopeo_raw(dst, repo, ref)
        self.assertEqual(sha256_digest(want), sha256_digest(got), ref)
        self.assertEqual(want, got)
        return want

    def test_1_fallback_shapes(self):
        """cosign .sig/.att tags, an SBOM pushed by digest only and found
        through the tag schema, a signature on the SBOM (two levels), a
        Helm chart and a zstd image alongside. The tool reaches both
        registries through proxies that log the requests of the reruns."""
        with Registry() as src, Registry() as dst, \
                FaultProxy(src.host) as ps, FaultProxy(dst.host) as pd:
            repo = 'team/app'
            img = seed_image(src, repo, 'v1', kind='oci', seed=1301)
            subj = {'mediaType': img['media_type'], 'digest': img['digest'],
                    'size': len(img['manifest'])}
            sbom = artifact(src, repo, 'application/spdx+json',
                            b'{"spdxVersion":"SPDX-2.3"}', subject=subj,
                            layer_mt='application/spdx+json')
            sbom_d = push_manifest(src, repo, sha256_digest(sbom), sbom,
                                   MT['oci'])
            sig2 = artifact(src, repo,
                            'application/vnd.dev.sigstore.bundle.v0.3+json',
                            b'{"bundle":"on the sbom"}',
                            subject={'mediaType': MT['oci'], 'digest': sbom_d,
                                     'size': len(sbom)})
            sig2_d = push_manifest(src, repo, sha256_digest(sig2), sig2,
                                   MT['oci'])
            put_tag_schema(src, repo, img['digest'],
                           [(sbom_d, len(sbom), 'application/spdx+json')])
            put_tag_schema(src, repo, sbom_d, [(
                sig2_d, len(sig2),
                'application/vnd.dev.sigstore.bundle.v0.3+json')])
            # cosign's tags: ordinary manifests, no subject
            sig = artifact(src, repo,
                           'application/vnd.dev.cosign.artifact.sig.v1+json',
                           b'{"critical":{}}', layer_mt=(
                               'application/vnd.dev.cosign.simplesigning'
                               '.v1+json'))
            push_manifest(src, repo, schema_tag(img['digest'], '.sig'), sig,
                          MT['oci'])
            att = artifact(src, repo, 'application/vnd.dsse.envelope.v1+json',
                           b'{"payloadType":"in-toto"}',
                           layer_mt='application/vnd.dsse.envelope.v1+json')
            push_manifest(src, repo, schema_tag(img['digest'], '.att'), att,
                          MT['oci'])
            # a Helm chart and a zstd image alongside
            chart_cfg = push_blob(src, repo, b'{"name":"app","version":"1"}')
            chart = make_layer(1302, 2048)
            chart_d = push_blob(src, repo, chart)
            push_manifest(src, repo, 'chart', json.dumps({
                'schemaVersion': 2, 'mediaType': MT['oci'],
                'config': {'mediaType':
                           'application/vnd.cncf.helm.config.v1+json',
                           'digest': chart_cfg, 'size': 28},
                'layers': [{'mediaType': 'application/vnd.cncf.helm.chart.'
                            'content.v1.tar+gzip', 'digest': chart_d,
                            'size': len(chart)}]}).encode(), MT['oci'])
            zcfg = b'{"architecture":"amd64","os":"linux","rootfs":{}}'
            zcfg_d = push_blob(src, repo, zcfg)
            zl = b'(\xb5/\xfd' + os.urandom(64)  # a zstd frame's magic
            zl_d = push_blob(src, repo, zl)
            push_manifest(src, repo, 'zstd', json.dumps({
                'schemaVersion': 2, 'mediaType': MT['oci'],
                'config': {'mediaType': MT['oci_config'], 'digest': zcfg_d,
                           'size': len(zcfg)},
                'layers': [{'mediaType':
                            'application/vnd.oci.image.layer.v1.tar+zstd',
                            'digest': zl_d, 'size': len(zl)}]}).encode(),
                MT['oci'])

            w = self.workdir()
            rules = '"%s/%s:v1,chart,zstd": %s/%s\n' % (ps.host, repo,
                                                        pd.host, repo)
            rc, out, err = run_it(self.args(w, (ps, pd), rules))
            self.assertEqual(rc, 0, out + err)
            rep = w.load_report()
            self.assertEqual(rep['summary']['referrers_copied'], 4, rep)
            self.assertEqual(rep['summary']['referrers_skipped'], 0)
            v1 = [i for i in rep['images'] if i['source'].endswith(':v1')][0]
            self.assertEqual(v1['referrers'], {'copied': 4, 'skipped': 0})
            for ref in ('v1', 'chart', 'zstd', sbom_d, sig2_d,
                        schema_tag(img['digest'], '.sig'),
                        schema_tag(img['digest'], '.att')):
                self.same(src, dst, repo, ref)
            # the tag schema index written on the target lists the SBOM
            idx = json.loads(skopeo_raw(dst, repo,
                                        schema_tag(img['digest'])))
            self.assertEqual([m['digest'] for m in idx['manifests']],
                             [sbom_d])
            self.assertEqual(idx['manifests'][0]['artifactType'],
                             'application/spdx+json')
            idx = json.loads(skopeo_raw(dst, repo, schema_tag(sbom_d)))
            self.assertEqual([m['digest'] for m in idx['manifests']],
                             [sig2_d])

            # a rerun with the same state dir: the journal settles each
            # image, and its record was written once the referrers were
            # done, so none is looked for again (no referrers API, tag
            # schema or cosign tag request, no manifest GET)
            ps.clear_log()
            pd.clear_log()
            rc, out, err = run_it(self.args(w, (ps, pd), rules))
            self.assertEqual(rc, 0, out + err)
            rep = w.load_report()
            self.assertEqual(rep['summary']['referrers_copied'], 0)
            self.assertEqual(rep['summary']['referrers_skipped'], 0)
            seen = [(e['method'], e['path']) for e in ps.log() + pd.log()]
            self.assertFalse([x for x in seen if '/referrers/' in x[1] or
                              '/manifests/sha256-' in x[1]], seen)
            self.assertFalse([x for x in seen if x[0] == 'GET' and
                              '/manifests/' in x[1]], seen)

            # a rerun with a fresh state dir: everything present by HEAD,
            # each referrer found again and skipped
            w3 = self.workdir()
            rc, out, err = run_it(self.args(w3, (ps, pd), rules))
            self.assertEqual(rc, 0, out + err)
            rep = w3.load_report()
            self.assertEqual(rep['summary']['referrers_copied'], 0)
            self.assertEqual(rep['summary']['referrers_skipped'], 4)

            # --referrers=false on a fresh target: only the images
            with Registry() as dst2:
                w2 = self.workdir()
                rules2 = '%s/%s:v1: %s/%s\n' % (src.host, repo, dst2.host,
                                                repo)
                rc, out, err = run_it(self.args(w2, (src, dst2), rules2,
                                                '--referrers=false'))
                self.assertEqual(rc, 0, out + err)
                self.same(src, dst2, repo, 'v1')
                st, _, _ = dst2.request(
                    'HEAD', '/v2/%s/manifests/%s' % (repo, sbom_d),
                    headers={'Accept': MT['oci']})
                self.assertEqual(st, 404)

    def foreign_image(self, reg, repo):
        """A manifest with a foreign layer (urls), whose blob is in no
        registry."""
        cfg = json.dumps({'architecture': 'amd64', 'os': 'windows',
                          'rootfs': {'type': 'layers', 'diff_ids': []}}
                         ).encode()
        cfg_d = push_blob(reg, repo, cfg)
        own = make_layer(1303, 1024)
        own_d = push_blob(reg, repo, own)
        body = json.dumps({
            'schemaVersion': 2, 'mediaType': MT['v2s2'],
            'config': {'mediaType': MT['docker_config'], 'digest': cfg_d,
                       'size': len(cfg)},
            'layers': [{'mediaType': FOREIGN,
                        'digest': 'sha256:' + 'ab' * 32, 'size': 123456789,
                        'urls': ['https://mcr.microsoft.example/layer']},
                       {'mediaType': MT['docker_layer'], 'digest': own_d,
                        'size': len(own)}]}).encode()
        return push_manifest(reg, repo, 'ltsc', body, MT['v2s2'])

    def test_2_foreign_layer(self):
        """Copied without fetching the foreign layer (the source does not
        have it: a GET would fail the image); a target that refuses it
        names the setting."""
        with Registry(extra_config=URLS_ALLOW) as src, \
                Registry(extra_config=URLS_ALLOW) as dst, \
                Registry() as strict:
            repo = 'win/base'
            digest = self.foreign_image(src, repo)
            w = self.workdir()
            rc, out, err = run_it(self.args(
                w, (src, dst), '%s/%s:ltsc: %s/%s\n' % (src.host, repo,
                                                        dst.host, repo)))
            self.assertEqual(rc, 0, out + err)
            got = self.same(src, dst, repo, 'ltsc')
            self.assertEqual(sha256_digest(got), digest)

            w = self.workdir()
            rc, out, err = run_it(self.args(
                w, (src, strict), '%s/%s:ltsc: %s/%s\n' % (
                    src.host, repo, strict.host, repo)))
            self.assertEqual(rc, 1, out + err)
            rep = w.load_report()
            self.assertEqual(rep['images'][0]['status'], 'failed')
            self.assertIn('validation.manifests.urls.allow',
                          rep['images'][0]['error'])

    def via(self, reg, proxy):
        """reg as clients reach it through proxy (same storage)."""
        v = copy.copy(reg)
        v.host = proxy.host
        v.url = 'http://' + proxy.host
        return v

    def test_3_referrers_api(self):
        """Both registries serve the OCI referrers API (a proxy in front of
        docker-registry answers /referrers/ from the manifests pushed
        through it, two per page): referrers are found through it, pages
        followed, and no tag schema index is written on the target."""
        with Registry() as src, Registry() as dst, \
                ReferrersProxy(src.host, page_size=2) as sp, \
                ReferrersProxy(dst.host, page_size=2) as dp:
            repo = 'team/api'
            s = self.via(src, sp)
            img = seed_image(s, repo, 'v1', kind='oci', seed=1310)
            subj = {'mediaType': img['media_type'], 'digest': img['digest'],
                    'size': len(img['manifest'])}
            pushed = []
            for i, at in enumerate(('application/spdx+json',
                                    'application/vnd.in-toto+json',
                                    'application/vnd.dev.sigstore.bundle'
                                    '.v0.3+json')):
                body = artifact(s, repo, at, b'{"n":%d}' % i, subject=subj)
                pushed.append(push_manifest(s, repo, sha256_digest(body),
                                            body, MT['oci']))
            # a signature on the SBOM: found by asking about the SBOM
            sig = artifact(s, repo,
                           'application/vnd.dev.sigstore.bundle.v0.3+json',
                           b'{"on":"sbom"}',
                           subject={'mediaType': MT['oci'],
                                    'digest': pushed[0], 'size': len(
                                        skopeo_raw(src, repo, pushed[0]))})
            pushed.append(push_manifest(s, repo, sha256_digest(sig), sig,
                                        MT['oci']))
            w = self.workdir()
            rules = '%s/%s:v1: %s/%s\n' % (sp.host, repo, dp.host, repo)
            rc, out, err = run_it(self.args(w, (sp, dp), rules))
            self.assertEqual(rc, 0, out + err)
            rep = w.load_report()
            self.assertEqual(rep['summary']['referrers_copied'], 4, rep)
            for ref in ['v1'] + pushed:
                self.same(src, dst, repo, ref)
            # the source's pages were followed (3 referrers, 2 per page)
            seen = [p for m, p in sp.requests() if '/referrers/' in p]
            self.assertTrue(any('last=2' in p for p in seen), seen)
            # the API answered, so the tag schema was never read on the
            # source, and not written on the target
            schema = '/manifests/' + schema_tag(img['digest'])
            self.assertFalse([p for m, p in sp.requests()
                              if p.endswith(schema)], sp.requests())
            self.assertTrue([p for m, p in dp.requests()
                             if '/referrers/' in p], dp.requests())
            st, _, _ = dst.request('HEAD', '/v2/%s%s' % (repo, schema),
                                   headers={'Accept': MT['index']})
            self.assertEqual(st, 404)
            # the target's API now lists what landed, with artifactType
            st, _, body = self.via(dst, dp).request(
                'GET', '/v2/%s/referrers/%s?artifactType=%s' % (
                    repo, img['digest'], 'application/spdx%2Bjson'))
            self.assertEqual(st, 200)
            self.assertEqual([m['digest'] for m in
                              json.loads(body)['manifests']], [pushed[0]])


if __name__ == '__main__':
    unittest.main(verbosity=2)
