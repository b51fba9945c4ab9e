#!/usr/bin/env python3
"""deploy/kubernetes/ (issue 6): the manifests are valid Kubernetes objects
and run the tool the way sharding needs.

1. Schema: tests/integration/k8s_validate.js checks every manifest with the
   pinned npm packages kubernetes-models (the Kubernetes OpenAPI schemas:
   types, enums, required fields) and yaml, plus a probe for fields the
   schema does not know (kubernetes-models alone accepts a misspelt field).
   node and the packages (tests/sdk, `npm ci`, done by
   deploy/install-deps.sh) are required: without them this test fails and
   says how to install them, it does not skip.
2. What the tool depends on, checked here on the parsed documents: an
   Indexed Job, completions == parallelism == the N of
   --shard=$(JOB_COMPLETION_INDEX)/N, JOB_COMPLETION_INDEX defined, every
   flag one that `image-transfer --help` lists (and the whole argument list
   accepted by the binary's own parser for every index), the Secret's keys
   projected under the names the file flags use, --state-dir and --report
   on the per-pod volume (subPathExpr with the index) backed by the
   ReadWriteMany claim, non-root, read-only root file system, resources.
3. The checks can fail: broken copies of the manifests (a misspelt field, a
   wrong type, N out of step, an unknown flag, a Secret key that does not
   match, a shared state dir) are rejected.
"""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TESTS_DIR = os.environ.get(
    'TESTS_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              '..'))
ROOT = os.path.dirname(os.path.abspath(TESTS_DIR))
K8S_DIR = os.path.join(ROOT, 'deploy', 'kubernetes')
VALIDATOR = os.path.join(TESTS_DIR, 'integration', 'k8s_validate.js')
SDK = os.path.join(TESTS_DIR, 'sdk')
INDEX_VAR = '$(JOB_COMPLETION_INDEX)'
INDEX_ANNOTATION = ("metadata.annotations"
                    "['batch.kubernetes.io/job-completion-index']")
FILE_FLAGS = ('securityFile', 'ruleFile', 'secretFile')
SHARD_RE = re.compile(r'^--shard=\$\(JOB_COMPLETION_INDEX\)/([0-9]+)$')


def setup_problem():
    """None when node and the pinned npm packages are there, else why
    not and how to fix it."""
    fix = ('run deploy/install-deps.sh (or: cd tests/sdk && npm ci) to '
           'install the packages pinned in tests/sdk/package.json')
    if shutil.which('node') is None:
        return 'node (Node.js) is not installed; ' + fix
    with open(os.path.join(SDK, 'package.json')) as f:
        deps = json.load(f)['dependencies']
    for pkg in ('kubernetes-models', 'yaml'):
        meta = os.path.join(SDK, 'node_modules', pkg, 'package.json')
        if not os.path.exists(meta):
            return '%s@%s is not installed in %s; %s' % (
                pkg, deps.get(pkg), os.path.dirname(os.path.dirname(meta)),
                fix)
        with open(meta) as f:
            have = json.load(f)['version']
        if have != deps.get(pkg):
            return '%s is %s in tests/sdk/node_modules, %s is pinned; %s' % (
                pkg, have, deps.get(pkg), fix)
    return None


def validate(files, dump=False):
    """Runs the validator; (rc, stdout, stderr)."""
    p = subprocess.run(['node', VALIDATOR] + (['--dump'] if dump else []) +
                       list(files), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def help_flags():
    out = harness.run([harness.binary(), '--help']).stdout.decode()
    return set(re.findall(r'(?<![\w-])--([A-Za-z][A-Za-z-]*)', out))


def flag_of(arg):
    """'--state-dir=/x' -> ('state-dir', '/x'); '--no-tui' -> ('no-tui',
    None). A single dash works like two, as in the tool."""
    name = arg.lstrip('-')
    name, eq, value = name.partition('=')
    return name, (value if eq else None)


TKE_VARS = ('TKE_ROLE_ARN', 'TKE_PROVIDER_ID', 'TKE_REGION',
            'TKE_WEB_IDENTITY_TOKEN_FILE')


def job_problems(job, docs, known_flags):
    """What is wrong with Indexed Job `job` for a sharded run, as a list of
    messages (empty when fine). docs: every document of deploy/kubernetes/,
    to find the Secret and the claim it uses."""
    p = []
    spec = job.get('spec', {})
    name = job.get('metadata', {}).get('name')
    if spec.get('completionMode') != 'Indexed':
        p.append('completionMode is %r, not Indexed' %
                 spec.get('completionMode'))
    pod = spec.get('template', {}).get('spec', {})
    if pod.get('restartPolicy') != 'Never':
        p.append('restartPolicy is %r, not Never' % pod.get('restartPolicy'))
    containers = pod.get('containers') or []
    if len(containers) != 1:
        return p + ['expected one container, found %d' % len(containers)]
    c = containers[0]
    if 'image-transfer' not in c.get('image', ''):
        p.append('image %r is not image-transfer' % c.get('image'))
    if c.get('command'):
        p.append('command overrides the image ENTRYPOINT (image-transfer)')
    args = c.get('args') or []

    # --shard and N
    shards = [a for a in args if flag_of(a)[0] == 'shard']
    n = None
    if len(shards) != 1 or not SHARD_RE.match(shards[0]):
        p.append('args need exactly one --shard=%s/N, have %r' %
                 (INDEX_VAR, shards))
    else:
        n = int(SHARD_RE.match(shards[0]).group(1))
        if not 1 <= n <= 65536:
            p.append('--shard N=%d is out of 1..65536' % n)
        for field in ('completions', 'parallelism'):
            if spec.get(field) != n:
                p.append('%s is %r, --shard says N=%d' %
                         (field, spec.get(field), n))
    env = {e.get('name'): e for e in c.get('env') or []}
    idx = env.get('JOB_COMPLETION_INDEX')
    if not idx or idx.get('valueFrom', {}).get('fieldRef', {}).get(
            'fieldPath') != INDEX_ANNOTATION:
        p.append('env JOB_COMPLETION_INDEX is not defined from the '
                 'job-completion-index annotation')

    # every flag is one the tool documents
    flags = {}
    for a in args:
        if not a.startswith('-'):
            p.append('argument %r is not a flag (the tool takes only '
                     'flags)' % a)
            continue
        fname, value = flag_of(a)
        if fname not in known_flags:
            p.append('flag --%s is not in image-transfer --help' % fname)
        flags[fname] = value
    if '--no-tui' not in args:
        p.append('--no-tui missing: a pod has no terminal to draw on')
    ccr = flags.get('ccrToTcr', flags.get('ccr-to-tcr')) in ('true', '')
    # No static key (issue 16): the TKE OIDC variables instead of
    # --secretFile, the token file on a projected ServiceAccount token.
    oidc = ccr and 'TKE_ROLE_ARN' in env
    need = ('securityFile', 'tcrName') + (() if oidc else ('secretFile',)) \
        if ccr else ('ruleFile',)
    for f in need:
        if f not in flags:
            p.append('--%s missing for this mode' % f)
    if oidc:
        for v in TKE_VARS:
            if not (env.get(v) or {}).get('value'):
                p.append('env %s missing (the TKE OIDC role needs %s)' %
                         (v, ', '.join(TKE_VARS)))
        if 'secretFile' in flags:
            p.append('--secretFile given: it wins over the TKE OIDC role')

    # volumes
    vols = {v.get('name'): v for v in pod.get('volumes') or []}
    mounts = c.get('volumeMounts') or []

    def mount_of(path):
        """The mount holding path (the longest mountPath prefix)."""
        best = None
        for m in mounts:
            mp = m.get('mountPath', '').rstrip('/')
            if path == mp or path.startswith(mp + '/'):
                if best is None or len(mp) > len(best['mountPath']):
                    best = m
        return best

    secrets = {d['metadata']['name']: d for d in docs
               if d.get('kind') == 'Secret'}
    claims = {d['metadata']['name']: d for d in docs
              if d.get('kind') == 'PersistentVolumeClaim'}
    projected = {}
    for fflag in FILE_FLAGS:
        path = flags.get(fflag)
        if path is None:
            continue
        m = mount_of(path)
        vol = vols.get(m.get('name')) if m else None
        if not vol or 'secret' not in vol:
            p.append('--%s=%s is not on a Secret volume' % (fflag, path))
            continue
        if not m.get('readOnly'):
            p.append('the Secret volume is not mounted readOnly')
        sec = vol['secret']
        if sec.get('defaultMode') != 0o400:
            p.append('Secret defaultMode is %r, not 0400' %
                     sec.get('defaultMode'))
        example = secrets.get(sec.get('secretName'))
        if example is None:
            p.append('Secret %r is not among the manifests' %
                     sec.get('secretName'))
            continue
        keys = set(example.get('stringData') or {}) | set(
            example.get('data') or {})
        items = {i.get('path'): i.get('key') for i in sec.get('items') or []}
        rel = path[len(m['mountPath'].rstrip('/')) + 1:]
        key = items.get(rel) if items else rel
        if key is None:
            p.append('--%s=%s: no Secret item is projected as %s' %
                     (fflag, path, rel))
        elif key not in keys:
            p.append('--%s=%s: Secret %s has no key %s' % (
                fflag, path, sec.get('secretName'), key))
        elif key != rel or key != os.path.basename(path):
            p.append('--%s=%s: projected from key %s under another name' %
                     (fflag, path, key))
        projected[rel] = fflag
    for v in vols.values():
        for i in (v.get('secret') or {}).get('items') or []:
            if i.get('path') not in projected:
                p.append('Secret item %s is projected but no flag reads it'
                         % i.get('path'))

    state = flags.get('state-dir', flags.get('stateDir'))
    report = flags.get('report')
    if not state:
        p.append('--state-dir missing (the journal would go to the image)')
    else:
        m = mount_of(state)
        vol = vols.get(m.get('name')) if m else None
        if not vol:
            p.append('--state-dir=%s is on no volume' % state)
        else:
            if INDEX_VAR not in m.get('subPathExpr', ''):
                p.append('the state volume is not per pod: subPathExpr %r '
                         'lacks %s' % (m.get('subPathExpr'), INDEX_VAR))
            if m.get('readOnly'):
                p.append('the state volume is mounted readOnly')
            pvc = vol.get('persistentVolumeClaim')
            if pvc:
                claim = claims.get(pvc.get('claimName'))
                if claim is None:
                    p.append('claim %r is not among the manifests' %
                             pvc.get('claimName'))
                elif 'ReadWriteMany' not in claim['spec'].get(
                        'accessModes', []):
                    p.append('claim %s is not ReadWriteMany (the pods may '
                             'run on several nodes)' % pvc['claimName'])
            elif 'emptyDir' not in vol:
                p.append('the state volume is neither a claim nor an '
                         'emptyDir')
            if not report or mount_of(report) is not m:
                p.append('--report=%s is not on the state volume' % report)

    if oidc:
        tf = (env.get('TKE_WEB_IDENTITY_TOKEN_FILE') or {}).get('value', '')
        m = mount_of(tf)
        vol = vols.get(m.get('name')) if m else None
        srcs = ((vol or {}).get('projected') or {}).get('sources') or []
        sat = [x['serviceAccountToken'] for x in srcs
               if 'serviceAccountToken' in x]
        if not sat or tf != m['mountPath'].rstrip('/') + '/' + \
                sat[0].get('path', ''):
            p.append('TKE_WEB_IDENTITY_TOKEN_FILE=%s is not a projected '
                     'serviceAccountToken' % tf)
        elif not sat[0].get('audience'):
            p.append('the projected token has no audience')
        if not pod.get('serviceAccountName'):
            p.append('no serviceAccountName: the role trusts one '
                     'ServiceAccount')

    # hardening
    psc = pod.get('securityContext') or {}
    csc = c.get('securityContext') or {}
    if not (csc.get('runAsNonRoot') or psc.get('runAsNonRoot')):
        p.append('runAsNonRoot is not set')
    uid = csc.get('runAsUser', psc.get('runAsUser'))
    if not isinstance(uid, int) or uid == 0:
        p.append('runAsUser %r: a numeric non-root uid is needed for '
                 'runAsNonRoot with an image whose USER is a name' % uid)
    if csc.get('readOnlyRootFilesystem') is not True:
        p.append('readOnlyRootFilesystem is not true')
    if csc.get('allowPrivilegeEscalation') is not False:
        p.append('allowPrivilegeEscalation is not false')
    res = c.get('resources') or {}
    for part in ('requests', 'limits'):
        for r in ('cpu', 'memory'):
            if r not in (res.get(part) or {}):
                p.append('resources.%s.%s missing' % (part, r))
    for rule in (spec.get('podFailurePolicy') or {}).get('rules', []):
        ref = (rule.get('onExitCodes') or {}).get('containerName')
        if ref is not None and ref != c.get('name'):
            p.append('podFailurePolicy names container %r' % ref)
    return ['%s: %s' % (name, m) for m in p]


class K8sManifestsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        problem = setup_problem()
        if problem:
            raise AssertionError(problem)
        cls.files = sorted(glob.glob(os.path.join(K8S_DIR, '*.yaml')) +
                           glob.glob(os.path.join(K8S_DIR, '*.yml')))
        rc, out, err = validate(cls.files, dump=True)
        if rc != 0:
            raise AssertionError('k8s_validate.js rejected the manifests:\n'
                                 + err + out)
        parsed = json.loads(out)
        cls.docs = [d for f in cls.files for d in parsed[f]]
        cls.jobs = [d for d in cls.docs if d.get('kind') == 'Job']
        cls.flags = help_flags()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='it-k8s-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def broken(self, name, old, new):
        """A copy of manifest `name` with old replaced by new."""
        with open(os.path.join(K8S_DIR, name)) as f:
            text = f.read()
        self.assertIn(old, text)
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(text.replace(old, new, 1))
        return path

    def test_1_schema(self):
        rc, out, err = validate(self.files)
        self.assertEqual(rc, 0, out + err)
        kinds = sorted(d['kind'] for d in self.docs)
        self.assertEqual(kinds, ['Job', 'Job', 'Job', 'PersistentVolumeClaim',
                                 'Pod', 'Secret', 'ServiceAccount'])
        for f in self.files:
            self.assertIn(f + ': ', out)
        self.assertEqual(out.count(': ok\n'), len(self.docs), out)

    def test_2_jobs_run_the_tool_sharded(self):
        self.assertGreaterEqual(len(self.jobs), 2)
        modes = set()
        for job in self.jobs:
            self.assertEqual(job_problems(job, self.docs, self.flags), [])
            args = job['spec']['template']['spec']['containers'][0]['args']
            modes.add('--ccrToTcr=true' in args)
            n = job['spec']['completions']
            # The binary's own parser accepts the whole argument list for
            # every index (--help stops before anything is read or done).
            for i in range(n):
                real = [a.replace(INDEX_VAR, str(i)) for a in args]
                rc, out, err = harness.run_binary(real + ['--help'])
                self.assertEqual(rc, 0, (job['metadata']['name'], i, err))
            rc, out, err = harness.run_binary(
                [a.replace(INDEX_VAR, str(n)) for a in args] + ['--help'])
            self.assertEqual(rc, 2, 'index N must be refused')
            self.assertIn('--shard', err)
        self.assertEqual(modes, {True, False}, 'a Job for each mode')

    def test_2b_no_static_key_variant(self):
        oidc = [j for j in self.jobs if '--ccrToTcr=true' in
                j['spec']['template']['spec']['containers'][0]['args'] and
                not any(a.startswith('--secretFile') for a in
                        j['spec']['template']['spec']['containers'][0]
                        ['args'])]
        self.assertEqual(len(oidc), 1, 'a CCR Job without --secretFile')
        job = oidc[0]

        def env_of(j):
            return j['spec']['template']['spec']['containers'][0]['env']

        def mutate(fn):
            j = copy.deepcopy(job)
            fn(j)
            return job_problems(j, self.docs, self.flags)

        cases = [
            (lambda j: env_of(j).pop(
                [e['name'] for e in env_of(j)].index('TKE_PROVIDER_ID')),
             'env TKE_PROVIDER_ID missing'),
            (lambda j: [e.update(value='/etc/image-transfer/token')
                        for e in env_of(j)
                        if e['name'] == 'TKE_WEB_IDENTITY_TOKEN_FILE'],
             'is not a projected serviceAccountToken'),
            (lambda j: j['spec']['template']['spec'].pop(
                'serviceAccountName'), 'no serviceAccountName'),
        ]
        for fn, want in cases:
            probs = mutate(fn)
            self.assertTrue(any(want in x for x in probs), (want, probs))
        sa = [d for d in self.docs if d.get('kind') == 'ServiceAccount']
        self.assertEqual(
            [d['metadata']['name'] for d in sa],
            [job['spec']['template']['spec']['serviceAccountName']])

    def test_3_secret_and_claim(self):
        secret = next(d for d in self.docs if d['kind'] == 'Secret')
        self.assertEqual(sorted(secret['stringData']), [
            'registry-secret.yaml', 'tencentcloud-secret.yaml',
            'transfer-rule.yaml'])
        for v in secret['stringData'].values():  # placeholders only
            self.assertNotRegex(v, r'AKID[0-9A-Za-z]{10,}')
        used = set()
        for job in self.jobs:
            for v in job['spec']['template']['spec']['volumes']:
                for i in (v.get('secret') or {}).get('items') or []:
                    used.add(i['key'])
        self.assertEqual(used, set(secret['stringData']))
        claim = next(d for d in self.docs
                     if d['kind'] == 'PersistentVolumeClaim')
        self.assertEqual(claim['spec']['accessModes'], ['ReadWriteMany'])
        # Each Job's pods have their own directories on the claim, apart
        # from the other Job's.
        subs = [m['subPathExpr'] for job in self.jobs
                for m in job['spec']['template']['spec']['containers'][0]
                ['volumeMounts'] if 'subPathExpr' in m]
        self.assertEqual(len(subs), len(set(subs)), subs)

    def test_4_schema_check_rejects_broken_manifests(self):
        cases = [
            ('job.yaml', '  completions: 3', '  completionz: 3',
             '/spec/completionz: unknown field'),
            ('job.yaml', 'readOnlyRootFilesystem: true',
             'readOnlyRootFilesytem: true',
             'securityContext/readOnlyRootFilesytem: unknown field'),
            ('job.yaml', 'subPathExpr:', 'subPathExp:',
             'volumeMounts/1/subPathExp: unknown field'),
            ('job.yaml', 'completionMode: Indexed', 'completionMode: Index',
             '/spec/completionMode: must be equal to one of'),
            ('job.yaml', '  parallelism: 3 ', '  parallelism: "3" ',
             '/spec/parallelism: must be integer'),
            ('job-ccr-to-tcr.yaml', 'defaultMode: 0400',
             'defaultMode: read-only', 'defaultMode: must be integer'),
            ('pvc.yaml', 'accessModes:', 'accesModes:',
             '/spec/accesModes: unknown field'),
            ('secret.example.yaml', 'stringData:', 'stringdata:',
             '/stringdata: unknown field'),
            ('job.yaml', 'kind: Job', 'kind: Jobs', 'no schema for'),
            ('job.yaml', '  backoffLimitPerIndex: 3',
             '  backoffLimitPerIndex: 3\n  backoffLimitPerIndex: 4',
             'YAML:'),
            ('job.yaml', '  backoffLimitPerIndex: 3',
             '  backoffLimitPerIndx: 3', 'unknown field'),
        ]
        for name, old, new, want in cases:
            path = self.broken(name, old, new)
            rc, out, err = validate([path])
            self.assertEqual(rc, 1, (name, new, out, err))
            self.assertIn(want, out, (name, new))

    def test_5_tool_checks_reject_broken_jobs(self):
        job = next(j for j in self.jobs
                   if '--ruleFile=/etc/image-transfer/transfer-rule.yaml'
                   in j['spec']['template']['spec']['containers'][0]['args'])

        def c_of(j):
            return j['spec']['template']['spec']['containers'][0]

        def mutate(fn):
            j = copy.deepcopy(job)
            fn(j)
            return job_problems(j, self.docs, self.flags)

        def set_arg(j, old, new):
            a = c_of(j)['args']
            a[a.index(old)] = new

        cases = [
            (lambda j: j['spec'].update(completions=4), 'completions is 4'),
            (lambda j: j['spec'].update(parallelism=2), 'parallelism is 2'),
            (lambda j: j['spec'].pop('completionMode'), 'completionMode'),
            (lambda j: set_arg(j, '--shard=%s/3' % INDEX_VAR, '--shard=0/3'),
             'exactly one --shard'),
            (lambda j: set_arg(j, '--no-tui', '--no-dashboard'),
             '--no-dashboard is not in image-transfer --help'),
            (lambda j: set_arg(
                j, '--ruleFile=/etc/image-transfer/transfer-rule.yaml',
                '--ruleFile=/etc/image-transfer/rules.yaml'),
             'no Secret item is projected as rules.yaml'),
            (lambda j: j['spec']['template']['spec']['volumes'][0]['secret']
             ['items'][1].update(key='rules.yaml'),
             'has no key rules.yaml'),
            (lambda j: set_arg(j, '--state-dir=/var/lib/image-transfer',
                               '--state-dir=/tmp/state'),
             'is on no volume'),
            (lambda j: c_of(j)['volumeMounts'][1].update(
                subPathExpr='shared'), 'is not per pod'),
            (lambda j: c_of(j)['securityContext'].update(
                readOnlyRootFilesystem=False), 'readOnlyRootFilesystem'),
            (lambda j: c_of(j).pop('env'), 'env JOB_COMPLETION_INDEX'),
            (lambda j: j['spec']['template']['spec']['securityContext']
             .pop('runAsUser'), 'runAsUser'),
        ]
        for fn, want in cases:
            problems = mutate(fn)
            self.assertTrue(any(want in m for m in problems),
                            (want, problems))

    def test_6_generic_job_pods_run_by_hand(self):
        """No cluster here, so the generic Job's pods are played by hand:
        for every index, the container's args with $(JOB_COMPLETION_INDEX)
        set, the Secret's items written (mode 0400) where the config
        volume is mounted, the state volume's subPathExpr directory where
        the state volume is mounted; the N processes run at the same time
        against real registries. Together they copy every image the
        Secret's rule file names, once, and each report lands in its
        shard's directory of the claim."""
        job = next(j for j in self.jobs
                   if '--ccrToTcr=true' not in
                   j['spec']['template']['spec']['containers'][0]['args'])
        secret = next(d for d in self.docs if d['kind'] == 'Secret')
        pod = job['spec']['template']['spec']
        c = pod['containers'][0]
        vols = {v['name']: v for v in pod['volumes']}
        n = job['spec']['completions']

        src = harness.Registry().start()
        self.addCleanup(src.stop)
        dst = harness.Registry(auth='basic',
                               users={'100012345678': 'K8s-Pa55'}).start()
        self.addCleanup(dst.stop)
        rules = secret['stringData']['transfer-rule.yaml']
        wanted = set()
        for line in rules.splitlines():
            m = re.match(r'^"?ccr\.ccs\.tencentyun\.com/([^:"]+)'
                         r'(?::([^"]+))?"?:', line)
            self.assertIsNotNone(m, line)
            repo, tags = m.group(1), m.group(2)
            for t in ('v1', 'v2', 'v3'):
                harness.seed_image(src, repo, t)
                if tags is None or t in tags.split(','):
                    wanted.add((repo, t))

        def real(text):
            text = text.replace('ccr.ccs.tencentyun.com', src.host)
            text = text.replace('image-transfer.tencentcloudcr.com',
                                dst.host)
            # plain HTTP registries on loopback
            return re.sub(r'(?m)^(  password: )REPLACE[-A-Z]*$',
                          r'\g<1>K8s-Pa55\n  insecure: true', text)

        pvc = os.path.join(self.tmp, 'claim')
        paths = []  # (mountPath, host dir) per pod
        for i in range(n):
            mounts = []
            for m in c['volumeMounts']:
                v = vols[m['name']]
                if 'secret' in v:
                    d = os.path.join(self.tmp, 'pod-%d-config' % i)
                    os.makedirs(d)
                    for item in v['secret']['items']:
                        f = os.path.join(d, item['path'])
                        with open(f, 'w') as out:
                            out.write(real(secret['stringData'][item['key']]))
                        os.chmod(f, v['secret'].get('defaultMode', 0o644))
                else:
                    self.assertIn('persistentVolumeClaim', v)
                    d = os.path.join(pvc, m['subPathExpr'].replace(
                        INDEX_VAR, str(i)))
                    os.makedirs(d, exist_ok=True)
                mounts.append((m['mountPath'], d))
            paths.append(mounts)

        def argv(i):
            out = []
            for a in c['args']:
                a = a.replace(INDEX_VAR, str(i))
                for mount, d in paths[i]:
                    a = a.replace('=' + mount + '/', '=' + d + '/')
                    if a.endswith('=' + mount):
                        a = a[:-len(mount)] + d
                out.append(a)
            return out

        env = dict(os.environ, HOME=self.tmp)
        for k in ('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'):
            env.pop(k, None)
        procs = [subprocess.Popen([harness.binary()] + argv(i), env=env,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for i in range(n)]
        results = [p.communicate(timeout=300) + (p.returncode,)
                   for p in procs]
        seen = []
        for i, (out, err, rc) in enumerate(results):
            self.assertEqual(rc, 0, 'pod %d:\n%s%s' % (i, out, err))
            self.assertNotIn('K8s-Pa55', out + err)
            report = os.path.join(pvc, 'shard-%d' % i, 'report.json')
            with open(report) as f:
                rep = json.load(f)
            self.assertEqual(rep['shard'], {'index': i, 'count': n})
            self.assertTrue(os.path.exists(os.path.join(
                pvc, 'shard-%d' % i, 'journal.db')))
            for img in rep['images']:
                self.assertEqual(img['status'], 'copied', img)
                path, tag = img['target'].split('/', 1)[1].rsplit(':', 1)
                seen.append((path, tag))
        self.assertEqual(len(seen), len(set(seen)), 'an image in two pods')
        self.assertEqual(set(seen), wanted)
        for repo, tag in wanted:
            self.assertEqual(harness.skopeo_raw(src, repo, tag),
                             harness.skopeo_raw(dst, repo, tag))


if __name__ == '__main__':
    unittest.main(verbosity=2)
