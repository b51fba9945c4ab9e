"""deploy/runbook.md, followed the way an ops engineer follows it: every
block marked `runbook-test` runs as written in bash, in order, against a
local sandbox (a source docker-registry and a target with basic auth). The
only changes are the registry addresses, the passwords, `insecure: true`
(the sandbox speaks plain HTTP; skopeo gets --tls-verify=false for the same
reason) and a bandwidth cap and fewer routines on the run that gets
killed, so that it is still running when it is killed. Every
image-transfer command in the runbook, cloud steps included, may only use
flags `--help` lists."""
import base64
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Registry, seed_image, make_layer  # noqa: E402

RUNBOOK = os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), 'deploy', 'runbook.md')
USER, PASSWORD = '100012345678', 'Tcr-runbook-Pa55'
MARK = re.compile(r'<!--\s*runbook-(test|cloud|manual)\b:?\s*([^\s>]*)'
                  r'[^>]*-->\s*\n```bash\n(.*?)```', re.S)


def runbook_blocks():
    """[(kind, name, code)] in order; every bash block must be marked."""
    with open(RUNBOOK) as f:
        text = f.read()
    blocks = [(m.group(1), m.group(2), m.group(3))
              for m in MARK.finditer(text)]
    return text, blocks


def command_flags(code):
    """The --flags of every image-transfer command in a block."""
    joined = code.replace('\\\n', ' ')
    flags = set()
    for line in joined.splitlines():
        m = re.search(r'(?:^|[|;&(]\s*)image-transfer(\s.*)?$', line)
        if not m:
            continue
        for tok in shlex.split(m.group(1) or '', comments=True):
            if tok in ('|', '2>&1') or tok.startswith(('|', '>', '2>')):
                break
            if tok.startswith('-'):
                flags.add(tok.split('=', 1)[0].lstrip('-'))
    return flags


class RunbookTest(unittest.TestCase):

    def test_every_block_is_marked_and_flags_exist(self):
        text, blocks = runbook_blocks()
        self.assertEqual(text.count('```bash'), len(blocks),
                         'a bash block without a runbook-test/cloud/manual '
                         'marker')
        rc, help_text, _ = harness.run_binary(['--help'])
        self.assertEqual(rc, 0)
        known = set(re.findall(r'--([A-Za-z][A-Za-z-]*)', help_text))
        known |= {'h'}
        used = set()
        for kind, name, code in blocks:
            flags = command_flags(code)
            used |= flags
            self.assertEqual(flags - known, set(),
                             'runbook step %s/%s uses flags --help does not '
                             'list' % (kind, name))
        # the check really parsed commands
        self.assertTrue({'securityFile', 'ruleFile', 'ccrToTcr', 'dry-run',
                         'state-dir', 'report'} <= used, used)
        self.assertIn('runbook-test', text)
        self.assertGreaterEqual(sum(1 for b in blocks if b[0] == 'test'), 10)

    def test_follow_the_runbook(self):
        src = Registry().start()
        dst = Registry(auth='basic', users={USER: PASSWORD}).start()
        tmp = tempfile.TemporaryDirectory(prefix='it-runbook-')
        try:
            self.follow(src, dst, tmp.name)
        finally:
            src.stop()
            dst.stop()
            tmp.cleanup()

    def seed(self, src):
        images = {}
        sizes = {'shop/web': 4, 'shop/api': 3, 'infra/redis': 3}
        base = [make_layer(5, 512 * 1024, 1)]
        for repo, n in sizes.items():
            for t in range(n):
                seed = len(images) * 10 + 100
                img = seed_image(src, repo, 'v1.%d' % t,
                                 kind='index' if repo == 'shop/api' and t == 0
                                 else 'v2s2',
                                 layers=[make_layer(seed, 700 * 1024, 1)],
                                 shared=base, seed=seed)
                images[(repo, 'v1.%d' % t)] = img['digest']
        return images

    def follow(self, src, dst, top):
        images = self.seed(src)
        # what the rule file in the runbook asks for: all of shop/web and
        # shop/api, two tags of infra/redis
        wanted = {k: v for k, v in images.items()
                  if k[0] != 'infra/redis' or k[1] in ('v1.0', 'v1.1')}
        home = os.path.join(top, 'home')
        bindir = os.path.join(top, 'bin')
        os.makedirs(home)
        os.makedirs(bindir)
        os.symlink(harness.binary(), os.path.join(bindir, 'image-transfer'))
        # skopeo's login, as `skopeo login` would have stored it
        auth = os.path.join(top, 'auth.json')
        with open(auth, 'w') as f:
            json.dump({'auths': {dst.host: {'auth': base64.b64encode(
                ('%s:%s' % (USER, PASSWORD)).encode()).decode()}}}, f)
        env = dict(os.environ, HOME=home, REGISTRY_AUTH_FILE=auth,
                   PATH=bindir + os.pathsep + os.environ['PATH'])
        for k in ('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE', 'XDG_STATE_HOME',
                  'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY'):
            env.pop(k, None)
        subst = [('ccr.ccs.tencentyun.com', src.host),
                 ('myinstance.tencentcloudcr.com', dst.host),
                 ('<tcr-password>', PASSWORD),
                 ('<ccr-password>', 'not-needed'),
                 ('# insecure: true', 'insecure: true'),
                 ('skopeo inspect ', 'skopeo inspect --tls-verify=false '),
                 ('skopeo delete ', 'skopeo delete --tls-verify=false ')]
        work = os.path.join(home, 'migration')
        _, blocks = runbook_blocks()
        steps = [(n, c) for k, n, c in blocks if k == 'test']
        names = [n for n, _ in steps]
        for need in ('version', 'workdir', 'secrets', 'rules', 'dry-run',
                     'run', 'resume', 'report', 'verify', 'verify-tool',
                     'rollback'):
            self.assertIn(need, names)

        def script(name, code):
            for a, b in subst:
                code = code.replace(a, b)
            if name == 'run':
                # slow, and two images at a time: the kill lands with some
                # images finished and others not started
                code = code.replace('--bandwidth=100M', '--bandwidth=1M')
                code = code.replace('--routines=8', '--routines=2')
            return code

        def bash(name, code):
            p = subprocess.run(['bash', '-e', '-o', 'pipefail', '-c',
                                script(name, code)],
                               cwd=work if os.path.isdir(work) else home,
                               env=env, capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=300)
            return p.returncode, p.stdout + p.stderr

        out = {}
        for name, code in steps:
            if name == 'run':
                out[name] = self.run_and_kill(script(name, code), work, env)
                continue
            rc, text = bash(name, code)
            self.assertEqual(rc, 0, 'runbook step %s failed:\n%s' % (
                name, text[-3000:]))
            out[name] = text
            self.assertNotIn(PASSWORD, text, name)
            self.assertNotIn('holds secrets but is readable', text, name)

        self.assertRegex(out['version'], r'image-transfer \d+\.\d+')
        for f in ('registry-secret.yaml', 'tencentcloud-secret.yaml'):
            self.assertEqual(os.stat(os.path.join(work, f)).st_mode & 0o077,
                             0, f)
        # the dry run planned every wanted image, before anything existed
        planned = re.findall(r'^copy (\S+) -> ', out['dry-run'], re.M)
        self.assertEqual(len(planned), len(wanted), out['dry-run'])

        # killed mid-run, resumed by the same command: everything there,
        # part of it from before the kill (skipped)
        with open(os.path.join(work, 'report.json')) as f:
            report = json.load(f)
        s = report['summary']
        self.assertEqual(s['images_failed'], 0, s)
        self.assertEqual(s['images_copied'] + s['images_skipped'],
                         len(wanted), s)
        self.assertGreater(s['images_skipped'], 0, 'nothing was done '
                           'before the kill: %s' % s)
        self.assertGreater(s['images_copied'], 0, 'the kill came too late')
        self.assertIn('"images_total": %d' % len(wanted), out['report'])
        self.assertEqual(len(re.findall(r'^ok ', out['verify'], re.M)),
                         len(wanted), out['verify'])
        for (repo, tag), digest in wanted.items():
            self.assertIn('%s/%s:%s' % (dst.host, repo, tag), out['verify'])
        self.assertIsNone(re.search(r'^copy ', out['verify-dry-run'], re.M))
        self.assertIn('dry run: 0 image(s) to copy', out['verify-dry-run'])
        # --verify=deep before the switch-over: every tag identical
        self.assertIn('verify (deep): %d identical, 0 missing, 0 different, '
                      '0 incomplete, 0 errors' % len(wanted),
                      out['verify-tool'])

        # the rollback removed exactly the tags this run copied
        status = {i['target']: i['status'] for i in report['images']}
        for (repo, tag), digest in wanted.items():
            st, _, _ = dst.request('HEAD', '/v2/%s/manifests/%s' % (
                repo, tag), headers={'Accept': ', '.join(
                    harness.MT.values())})
            ref = '%s/%s:%s' % (dst.host, repo, tag)
            self.assertEqual(st, 404 if status[ref] == 'copied' else 200,
                             ref)
        self.assertEqual(out['rollback'].count('deleted '),
                         s['images_copied'])

    def run_and_kill(self, code, work, env):
        """The run step, killed (SIGKILL, as a lost machine) once the
        journal holds its first finished image."""
        p = subprocess.Popen(['bash', '-e', '-o', 'pipefail', '-c', code],
                             cwd=work, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        state = os.path.join(work, 'state')
        deadline = time.time() + 120
        try:
            while p.poll() is None and time.time() < deadline:
                try:
                    if '"t":"image"' in harness.journal_text(state):
                        break
                except (OSError, sqlite3.Error):
                    pass
                time.sleep(0.05)
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        text = p.communicate(timeout=60)[0].decode(errors='replace')
        self.assertEqual(p.returncode, -signal.SIGKILL,
                         'the run ended before it was killed:\n' + text[-2000:])
        return text


if __name__ == '__main__':
    unittest.main(verbosity=2)
