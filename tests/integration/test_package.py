#!/usr/bin/env python3
"""Packaging and install: the man page, the example config files, the
systemd units, deploy/Dockerfile and the .deb.

* The man page documents every flag `image-transfer --help` lists (its
  OPTIONS may add the aliases --help leaves out, when the binary accepts
  them), the same exit codes and environment; groff finds nothing to warn
  about, and `man -l` renders it within 80 columns.
* The installed example files are accepted by the tool as they are.
* `systemd-analyze verify` has nothing to say about the units.
* deploy/Dockerfile, checked statically (no Docker daemon in CI): a build
  stage that makes the .deb, a runtime stage that installs it with apt, as a
  non-root user, with image-transfer as the entry point; every apt package
  it names exists in Debian. With a working `docker info` it is also built
  and run.
* The .deb made by CPack from $BUILD_DIR: fields, Depends (computed by
  dpkg-shlibdeps), contents; installed with dpkg -i, the installed binary
  copies images between two real docker-registry instances with the command
  line of the installed systemd unit (checked with skopeo), and reruns
  incrementally; purged at the end. Needs root (or sudo -n): skipped
  otherwise, and skipped when an image-transfer package or a
  /usr/bin/image-transfer is already on this machine.
"""

import fnmatch
import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Registry, seed_image, skopeo_raw, skopeo_tags  # noqa

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.environ.get('TESTS_DIR', os.path.join(HERE, '..'))
SRC = os.path.abspath(os.path.join(TESTS_DIR, '..'))
DEPLOY = os.path.join(SRC, 'deploy')
MAN_SRC = os.path.join(DEPLOY, 'image-transfer.1')
EXAMPLES = os.path.join(DEPLOY, 'examples')
UNITS = os.path.join(DEPLOY, 'systemd')
DOCKERFILE = os.path.join(DEPLOY, 'Dockerfile')
EXAMPLE_FILES = ('registry-secret.yaml', 'transfer-rule.yaml',
                 'tencentcloud-secret.yaml')
UNIT_FILES = ('image-transfer.service', 'image-transfer.timer')
PROXY_VARS = ('http_proxy', 'https_proxy', 'HTTPS_PROXY', 'all_proxy',
              'ALL_PROXY', 'no_proxy', 'NO_PROXY')
LONG_FLAG = re.compile(r'(?<![\w-])--([A-Za-z][A-Za-z0-9-]*)')


def run(cmd, timeout=120, env=None, check=False):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    out = p.stdout.decode(errors='replace')
    err = p.stderr.decode(errors='replace')
    if check and p.returncode != 0:
        raise AssertionError('%s failed (%d):\n%s%s' % (
            ' '.join(cmd), p.returncode, out, err))
    return p.returncode, out, err


def clean_env(**extra):
    """The environment without proxies (the tests talk to 127.0.0.1) and
    without the variables that change the tool's defaults."""
    env = dict(os.environ)
    for k in PROXY_VARS + ('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE',
                           'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY',
                           'TENCENTCLOUD_SESSION_TOKEN', 'XDG_STATE_HOME',
                           'DOCKER_CONFIG'):
        env.pop(k, None)
    env.update(extra)
    return env


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


# Shell completion: installed path under the prefix -> file in the tree.
COMPLETION_FILES = {
    'share/bash-completion/completions/image-transfer':
        'deploy/completion/image-transfer.bash',
    'share/zsh/vendor-completions/_image-transfer':
        'deploy/completion/_image-transfer',
}

# The libraries --version names after its first line, as it prints them.
VERSION_LIBS = ('libcurl', 'OpenSSL', 'jansson', 'libyaml', 'ncurses')


def version_lines(out):
    """--version's output: the first line 'image-transfer X', then one line
    'LIBRARY VERSION' per library of VERSION_LIBS, in that order. Returns
    the program's version; raises if the output has another shape."""
    lines = out.split('\n')
    m = re.fullmatch(r'image-transfer (\S+)', lines[0])
    if not m or lines[-1] != '' or \
            len(lines) != 2 + len(VERSION_LIBS):
        raise AssertionError('--version printed %r' % out)
    for lib, line in zip(VERSION_LIBS, lines[1:]):
        if not re.fullmatch(re.escape(lib) + r' \d+(\.\d+)+[0-9a-z.+~-]*',
                            line):
            raise AssertionError('--version: %r is not "%s VERSION" in %r'
                                 % (line, lib, out))
    return m.group(1)


def version():
    rc, out, err = run([harness.binary(), '--version'], check=True)
    return version_lines(out)


# ------------------------------------------------------------ --help text

def help_text():
    rc, out, err = run([harness.binary(), '--help'], check=True)
    return out


def help_flags(text):
    """Long flags of the option entries of --help: lines that start with two
    spaces and a dash, up to the first word that is not a flag
    ("  --ccrToTcr, --ccr-to-tcr[=true|false]", "  -h, --help  this text")."""
    flags = set()
    for line in text.splitlines():
        if not re.match(r'^  -', line):
            continue
        for tok in line.split():
            name = re.sub(r'\[.*$', '', tok.rstrip(','))
            if not re.fullmatch(r'--?[A-Za-z][A-Za-z0-9-]*', name):
                break
            if name.startswith('--'):
                flags.add(name)
            if not tok.endswith(','):
                break
    return flags


def help_section(text, title):
    """The lines of the --help block that starts with `title`, up to the
    next blank line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(title):
            block = [line[len(title):]]
            for more in lines[i + 1:]:
                if not more.strip():
                    break
                block.append(more)
            return block
    raise AssertionError('--help has no %r block' % title)


def unknown_flag(flag):
    """True when the binary rejects `flag` as unknown (any other error,
    such as a bad value, means it knows the flag)."""
    rc, out, err = run([harness.binary(), flag + '=x'])
    return 'unknown flag' in err


# -------------------------------------------------------------- man page

def roff_plain(s):
    """Roff source text without font escapes and quoting."""
    s = re.sub(r'\\f[BIRP]', '', s)
    s = s.replace('\\-', '-').replace('\\c', '').replace('\\&', '')
    s = s.replace('\\e', '\\').replace('"', ' ')
    return s


def man_sections(src):
    """{section name: [source lines]}."""
    out, cur = {}, None
    for line in src.splitlines():
        if line.startswith('.SH '):
            cur = roff_plain(line[4:]).strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def tp_tags(lines):
    """The tag lines (the line after each .TP), as plain text."""
    tags = []
    for i, line in enumerate(lines[:-1]):
        if line.strip() == '.TP':
            tags.append(roff_plain(re.sub(r'^\.[A-Z]+ ?', '',
                                          lines[i + 1])))
    return tags


def render_man(path):
    """`man -l` output as a reader sees it, with typographic hyphens made
    ASCII."""
    env = clean_env(MANWIDTH='80', MANPAGER='cat', PAGER='cat', LANG='C.UTF-8')
    rc, out, err = run(['man', '-l', path], env=env)
    if rc != 0:
        raise AssertionError('man -l %s failed (%d): %s' % (path, rc, err))
    out = re.sub(r'.\x08', '', out)  # overstrike bold/underline
    for h in ('\u2010', '\u2011', '\u2212', '\u2013'):
        out = out.replace(h, '-')
    return out


class ManPageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = read(MAN_SRC)
        cls.sections = man_sections(cls.src)
        cls.help = help_text()

    def test_options_match_help(self):
        """Every long flag --help lists is in OPTIONS; a flag OPTIONS has
        and --help has not must be an alias the binary accepts."""
        man = set()
        for tag in tp_tags(self.sections['OPTIONS']):
            man |= {'--' + m for m in LONG_FLAG.findall(tag)}
        helpf = help_flags(self.help)
        self.assertGreater(len(helpf), 20, 'cannot parse --help:\n' +
                           self.help)
        self.assertEqual(sorted(helpf - man), [],
                         'flags in --help but not in the man page OPTIONS')
        extra = sorted(man - helpf)
        rejected = [f for f in extra if unknown_flag(f)]
        self.assertEqual(rejected, [], 'flags in the man page that the '
                         'binary does not know')
        print('man page: %d long flags; --help lists %d; aliases the man '
              'page adds: %s' % (len(man), len(helpf),
                                 ' '.join(extra) or 'none'))
        # and a reader sees each of them, spelled as typed
        text = render_man(MAN_SRC)
        opts = text.split('\nOPTIONS\n', 1)[1].split('\nFILES\n', 1)[0]
        for f in sorted(man):
            self.assertRegex(opts, r'(?<![\w-])%s(?![\w-])' % re.escape(f),
                             'rendered OPTIONS lack ' + f)

    def test_exit_codes_and_environment_match_help(self):
        codes = {line.split()[0] for line in help_section(self.help,
                                                          'Exit codes:')
                 if line.strip()}
        man_codes = {t.strip() for t in tp_tags(self.sections['EXIT STATUS'])}
        self.assertEqual(man_codes, codes)
        with open(os.path.join(SRC, 'src', 'app.h')) as f:
            app_codes = set(re.findall(r'IT_EXIT_\w+ = (\d+)', f.read()))
        self.assertEqual(man_codes, app_codes, 'src/app.h exit codes')
        env = set(re.findall(r'[A-Z][A-Z_]{2,}', ' '.join(
            help_section(self.help, 'Environment:'))))
        man_env = set()
        for tag in tp_tags(self.sections['ENVIRONMENT']):
            man_env |= set(re.findall(r'[A-Za-z_]{3,}', tag))
        self.assertEqual(sorted(env - man_env), [],
                         'environment variables of --help missing in the '
                         'man page')

    def test_version_names_the_libraries(self):
        # The first line stays 'image-transfer X' (scripts read it); the
        # libraries follow, each with the version the binary runs with.
        rc, out, err = run([harness.binary(), '--version'], check=True)
        version_lines(out)
        self.assertIn('image-transfer ' + version() + '\n', out)
        for lib in VERSION_LIBS:
            self.assertIn(lib, roff_plain('\n'.join(
                self.sections['OPTIONS'])),
                          'the man page does not say --version names %s'
                          % lib)

    def test_version_matches_binary(self):
        th = [line for line in self.src.splitlines()
              if line.startswith('.TH ')][0]
        self.assertIn('image-transfer %s' % version(), roff_plain(th),
                      '.TH of %s names another version' % MAN_SRC)

    def test_groff_has_no_warnings(self):
        checked = 0
        if shutil.which('groff'):
            rc, out, err = run(['groff', '-man', '-Tutf8', '-ww', '-z',
                                MAN_SRC])
            self.assertEqual((rc, err), (0, ''), 'groff -ww')
            checked += 1
        if shutil.which('man'):
            rc, out, err = run(['man', '--warnings', '-l', MAN_SRC],
                               env=clean_env(MANPAGER='cat', MANWIDTH='80'))
            self.assertEqual((rc, err), (0, ''), 'man --warnings')
            checked += 1
        self.assertGreater(checked, 0, 'neither groff nor man is installed '
                           '(Debian: man-db, groff-base)')

    def test_renders_for_a_reader(self):
        text = render_man(MAN_SRC)
        heads = [line for line in text.splitlines()
                 if re.fullmatch(r'[A-Z][A-Z ]+', line)]
        self.assertEqual(heads, ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS',
                                 'FILES', 'EXIT STATUS', 'ENVIRONMENT',
                                 'EXAMPLES', 'SEE ALSO'])
        self.assertRegex(text, r'NAME\n +image-transfer +- +copy +container')
        wide = [line for line in text.splitlines() if len(line) > 80]
        self.assertEqual(wide, [], 'lines wider than 80 columns')
        for name in EXAMPLE_FILES:
            self.assertIn(name, text)
        self.assertIn('skopeo(1)', text)
        if shutil.which('lexgrog'):  # what mandb puts in the whatis db
            rc, out, err = run(['lexgrog', MAN_SRC])
            self.assertEqual(rc, 0, out + err)
            self.assertIn('"image-transfer - copy container images', out)


# -------------------------------------------------------- example files

def rule_sources(text):
    """Source keys of a transfer-rule.yaml (one "source: target" a line)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        key = line.rsplit(': ', 1)[0] if ': ' in line else line[:-1]
        out.append(key.strip().strip('"\''))
    return out


class ExamplesTest(unittest.TestCase):
    """The example files, unchanged, are accepted. Nothing leaves the
    machine: every connection goes to a closed port on 127.0.0.1 (an
    http(s)_proxy, or --tc-endpoint), so the run fails per image (exit 1),
    not on the configuration (exit 2)."""

    def setUp(self):
        self.wd = harness.Workdir(prefix='it-pkg-ex-')
        self.addCleanup(self.wd.cleanup)
        for name in EXAMPLE_FILES:
            dst = os.path.join(self.wd.dir, name)
            shutil.copy(os.path.join(EXAMPLES, name), dst)
            os.chmod(dst, 0o600)
        self.closed = 'http://127.0.0.1:%d' % harness.free_port()

    def path(self, name):
        return os.path.join(self.wd.dir, name)

    def run_generic(self):
        env = clean_env(HOME=self.wd.dir, http_proxy=self.closed,
                        https_proxy=self.closed)
        return run([harness.binary(),
                    '--securityFile=' + self.path('registry-secret.yaml'),
                    '--ruleFile=' + self.path('transfer-rule.yaml'),
                    '--registry=tcr.example.com', '--ns=mirror', '--dry-run',
                    '--retry=0', '--retry-window=0', '--no-tui',
                    '--state-dir=' + self.wd.state,
                    '--report=' + self.wd.report], env=env, timeout=120)

    def test_generic_examples(self):
        rc, out, err = self.run_generic()
        self.assertEqual(rc, 1, 'expected every image to fail on the '
                         'network, not on the files:\n' + err)
        self.assertNotIn('readable by', err)
        report = self.wd.load_report()
        self.assertTrue(report['images'])
        for img in report['images']:
            self.assertEqual(img['status'], 'failed', img)
            self.assertIn('127.0.0.1', img['error'] or '', img)
        sources = ' '.join(i['source'] for i in report['images'])
        for src in rule_sources(read(self.path('transfer-rule.yaml'))):
            path = re.split(r'[@,]|:(?=[^/]*$)', src)[0]
            path = path.split('/', 1)[1] if '.' in path.split('/')[0] \
                else path
            self.assertIn(path, sources, 'rule %r not in the report' % src)
        # the warning the man page and the example promise
        os.chmod(self.path('registry-secret.yaml'), 0o640)
        rc, out, err = self.run_generic()
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r'registry-secret\.yaml holds secrets but is '
                         r'readable by its group')

    def test_tencentcloud_example(self):
        env = clean_env(HOME=self.wd.dir)
        rc, out, err = run([harness.binary(), '--ccrToTcr=true',
                            '--secretFile=' +
                            self.path('tencentcloud-secret.yaml'),
                            '--tcrName=demo', '--tc-endpoint=' + self.closed,
                            '--retry=0', '--retry-window=0', '--no-tui',
                            '--state-dir=' + self.wd.state], env=env,
                           timeout=120)
        self.assertNotIn('tencentcloud-secret.yaml:', err)
        self.assertNotEqual(rc, 2, err)
        self.assertIn("Couldn't connect", err)


# --------------------------------------------------------------- systemd

def unit_lines(text):
    """(key, value) of a unit file, continuation lines joined."""
    text = re.sub(r'\\\n\s*', ' ', text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in '#;[':
            continue
        k, _, v = line.partition('=')
        out.append((k.strip(), v.strip()))
    return out


def unit_values(text, key):
    return [v for k, v in unit_lines(text) if k == key]


def exec_start_argv(text, cred_dir, etc_dir, var_dir):
    """The service's ExecStart as an argv, with the paths systemd provides
    mapped to test directories ($IMAGE_TRANSFER_OPTS is empty)."""
    (cmd,) = unit_values(text, 'ExecStart')
    argv = []
    for a in shlex.split(cmd):
        if a == '$IMAGE_TRANSFER_OPTS':
            continue
        a = a.replace('%d', cred_dir)
        a = a.replace('/etc/image-transfer', etc_dir)
        a = a.replace('/var/lib/image-transfer', var_dir)
        argv.append(a)
    return argv


def analyze_verify(paths, extra=()):
    """Runs systemd-analyze verify; returns (rc, lines about our units,
    other lines)."""
    rc, out, err = run(['systemd-analyze', 'verify'] + list(extra) +
                       list(paths), timeout=60)
    ours, other = [], []
    for line in (out + err).splitlines():
        if not line.strip():
            continue
        if 'image-transfer' in line or any(os.path.dirname(p) in line
                                           for p in paths):
            ours.append(line)
        else:
            other.append(line)
    return rc, ours, other


def syscall_set(name):
    """A system call, or a @group expanded by systemd-analyze."""
    if not name.startswith('@'):
        return {name}
    rc, out, err = run(['systemd-analyze', 'syscall-filter', name])
    if rc != 0:
        raise AssertionError('systemd-analyze syscall-filter %s: %s'
                             % (name, err))
    res = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith('#'):
            res |= syscall_set(line)
    return res


class SystemdUnitsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.service = read(os.path.join(UNITS, 'image-transfer.service'))
        cls.timer = read(os.path.join(UNITS, 'image-transfer.timer'))

    def test_service_shape(self):
        s = self.service
        for key, want in (('Type', 'oneshot'), ('DynamicUser', 'yes'),
                          ('StateDirectory', 'image-transfer'),
                          ('NoNewPrivileges', 'yes'),
                          ('ProtectSystem', 'strict'),
                          ('ProtectHome', 'yes'), ('PrivateTmp', 'yes'),
                          ('PrivateDevices', 'yes'),
                          ('RestrictAddressFamilies',
                           'AF_INET AF_INET6 AF_UNIX')):
            self.assertEqual(unit_values(s, key), [want], key)
        argv = exec_start_argv(s, '/CRED', '/ETC', '/VAR')
        self.assertEqual(argv[0], '/usr/bin/image-transfer')
        self.assertIn('--no-tui', argv)
        self.assertIn('--state-dir=/VAR/state', argv)
        self.assertIn('--report=/VAR/report.json', argv)
        self.assertIn('--securityFile=/CRED/registry-secret.yaml', argv)
        self.assertIn('--ruleFile=/ETC/transfer-rule.yaml', argv)
        # the secrets file reaches the service as a credential only
        self.assertEqual(unit_values(s, 'LoadCredential'), [
            'registry-secret.yaml:/etc/image-transfer/registry-secret.yaml'])
        known = help_flags(help_text())
        for a in argv[1:]:
            self.assertIn(a.split('=')[0], known, a)

    def test_timer_shape(self):
        t = self.timer
        self.assertEqual(len(unit_values(t, 'OnCalendar')), 1)
        self.assertEqual(unit_values(t, 'Persistent'), ['true'])
        self.assertTrue(unit_values(t, 'RandomizedDelaySec'))
        self.assertEqual(unit_values(t, 'WantedBy'), ['timers.target'])
        # the service has no [Install]: only the timer is enabled
        self.assertNotIn('[Install]', self.service)

    def test_systemd_analyze_verify(self):
        if not shutil.which('systemd-analyze'):
            self.skipTest('systemd-analyze is not installed (Debian: systemd)'
                          '; units not verified')
        with tempfile.TemporaryDirectory(prefix='it-units-') as d:
            # the built binary instead of /usr/bin/image-transfer, which
            # verify wants to exist; no man page check (not installed)
            paths = []
            for name in UNIT_FILES:
                text = read(os.path.join(UNITS, name)).replace(
                    '/usr/bin/image-transfer', harness.binary())
                paths.append(os.path.join(d, name))
                with open(paths[-1], 'w') as f:
                    f.write(text)
            rc, ours, other = analyze_verify(paths, ['--man=no'])
            for line in other:
                print('systemd-analyze (not about our units): ' + line)
            self.assertEqual(ours, [])
            self.assertEqual(rc, 0)
            # a unit with a mistake is reported (the check can fail)
            with open(paths[0], 'a') as f:
                f.write('ProtectSystem=bogus\n')
            rc, ours, other = analyze_verify(paths, ['--man=no'])
            self.assertTrue(ours, 'systemd-analyze missed a bad value')

    def test_sandbox_allows_what_a_copy_does(self):
        """The service's SystemCallFilter and RestrictAddressFamilies,
        checked against what the program really does: a copy by its
        ExecStart (registries named by host name, so the resolver runs
        too) under strace; every system call must be one the filter
        allows and every socket of a family the unit allows. systemd
        itself cannot run here (no systemd as PID 1)."""
        for tool in ('strace', 'systemd-analyze'):
            if not shutil.which(tool):
                self.skipTest('%s is not installed' % tool)
        rc, out, _ = run(['ldd', harness.binary()])
        if 'libasan' in out:
            self.skipTest('a sanitizer build makes system calls of its own')
        allowed = set()
        denied = set()
        for v in unit_values(self.service, 'SystemCallFilter'):
            target = denied if v.startswith('~') else allowed
            for item in v.lstrip('~').split():
                target |= syscall_set(item)
        self.assertTrue(allowed, 'no allow-list in SystemCallFilter')
        allowed -= denied
        families = set(unit_values(self.service,
                                   'RestrictAddressFamilies')[0].split())
        src = Registry().start()
        dst = Registry(auth='basic', users={'robot': 'Sc-Pa55'}).start()
        wd = harness.Workdir(prefix='it-unit-strace-')
        try:
            seed_image(src, 'team/app', 'v1', kind='index')
            seed_image(src, 'team/app', 'v2')
            cred, etc, var = (os.path.join(wd.dir, n)
                              for n in ('cred', 'etc', 'var'))
            for d in (cred, etc, var):
                os.mkdir(d, 0o700)
            shost = src.host.replace('127.0.0.1', 'localhost')
            dhost = dst.host.replace('127.0.0.1', 'localhost')
            wd.write('cred/registry-secret.yaml',
                     '%s:\n  insecure: true\n%s:\n  username: robot\n'
                     '  password: Sc-Pa55\n  insecure: true\n' % (shost,
                                                                 dhost))
            wd.write('etc/transfer-rule.yaml', '%s/team/app: %s/m/app\n'
                     % (shost, dhost))
            argv = exec_start_argv(self.service, cred, etc, var)
            argv[0] = harness.binary()
            trace = os.path.join(wd.dir, 'trace')
            rc, out, err = run(['strace', '-f', '-qq', '-o', trace] + argv,
                               env=clean_env(HOME=wd.dir), timeout=300)
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(skopeo_tags(dst, 'm/app'), ['v1', 'v2'])
            used, socks = set(), set()
            with open(trace) as f:
                for line in f:
                    m = re.match(r'\d+\s+(\w+)\(', line)
                    if m:
                        used.add(m.group(1))
                    m = re.search(r'\bsocket\((AF_\w+)', line)
                    if m:
                        socks.add(m.group(1))
        finally:
            wd.cleanup()
            src.stop()
            dst.stop()
        self.assertGreater(len(used), 10)
        self.assertEqual(sorted(used - allowed), [],
                         'system calls SystemCallFilter would refuse')
        self.assertTrue(socks)
        self.assertEqual(sorted(socks - families), [],
                         'socket families RestrictAddressFamilies refuses')

    def test_maintainer_scripts_parse(self):
        for name in ('postinst', 'prerm', 'postrm'):
            path = os.path.join(UNITS, 'debian', name)
            rc, out, err = run(['sh', '-n', path])
            self.assertEqual((rc, err), (0, ''), name)
            self.assertTrue(os.access(path, os.X_OK), name + ' not executable')


# ------------------------------------------------------------ Dockerfile

def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with continuation lines joined and
    comment lines dropped, as Docker reads them."""
    out, cur = [], ''
    for line in text.splitlines():
        if line.strip().startswith('#'):
            continue
        if line.rstrip().endswith('\\'):
            cur += line.rstrip()[:-1] + ' '
            continue
        cur += line
        if cur.strip():
            word, _, rest = cur.strip().partition(' ')
            out.append((word.upper(), rest.strip()))
        cur = ''
    return out


def dockerfile_stages(text):
    stages = []
    for ins, args in dockerfile_instructions(text):
        if ins == 'FROM':
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == 'as' \
                else None
            stages.append({'image': parts[0], 'name': name, 'ins': []})
        elif stages:
            stages[-1]['ins'].append((ins, args))
    return stages


def apt_packages(run_args):
    """Package names after each `apt-get install` of a RUN (options and
    local .deb paths left out)."""
    pkgs = []
    for part in re.split(r'&&|;|\|\|', run_args):
        words = part.split()
        if 'apt-get' not in words or 'install' not in words:
            continue
        for w in words[words.index('install') + 1:]:
            if w.startswith('-') or w.endswith('.deb'):
                continue
            pkgs.append(w)
    return pkgs


def install_deps_packages():
    text = read(os.path.join(DEPLOY, 'install-deps.sh'))
    m = re.search(r'PKGS=\((.*?)\)', text, re.S)
    return m.group(1).split() if m else []


def apt_lists_present():
    d = '/var/lib/apt/lists'
    return os.path.isdir(d) and any('_Packages' in n for n in os.listdir(d))


class DockerfileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages(read(DOCKERFILE))

    def test_stages(self):
        st = self.stages
        self.assertGreaterEqual(len(st), 2)
        build, final = st[0], st[-1]
        self.assertTrue(build['image'].startswith('debian:'), build['image'])
        self.assertTrue(final['image'].startswith('debian:'), final['image'])
        self.assertIn('slim', final['image'])
        # same Debian release: the .deb's Depends were computed against
        # the build stage's libraries
        self.assertEqual(build['image'].split(':')[1].split('-')[0],
                         final['image'].split(':')[1].split('-')[0])
        runs = ' && '.join(a for i, a in build['ins'] if i == 'RUN')
        self.assertIn('-DBUILD_TESTING=OFF', runs)
        m = re.search(r'cpack\s+(?:\S+\s+)*?-G\s+DEB\s+-B\s+(\S+)', runs)
        self.assertTrue(m, 'the build stage does not run cpack -G DEB -B DIR')
        out_dir = m.group(1).rstrip('/')

        copies = [a for i, a in final['ins'] if i == 'COPY' and
                  a.startswith('--from=')]
        self.assertEqual(len(copies), 1, copies)
        words = copies[0].split()
        self.assertIn(words[0][len('--from='):], (build['name'], '0'))
        src, dest = words[1], words[-1]
        self.assertEqual(os.path.dirname(src), out_dir)
        # the glob matches the file CPack names
        arch = run(['dpkg', '--print-architecture'], check=True)[1].strip()
        self.assertTrue(fnmatch.fnmatch('image-transfer_%s_%s.deb' % (
            version(), arch), os.path.basename(src)), src)
        installs = [a for i, a in final['ins'] if i == 'RUN' and
                    'apt-get' in a and 'install' in a]
        self.assertTrue(installs, 'the runtime stage never runs apt-get '
                        'install')
        want = os.path.join(dest.rstrip('/'), os.path.basename(src))
        self.assertIn(want, ' '.join(installs).split(),
                      'apt-get install does not install the copied .deb')

        users = [a for i, a in final['ins'] if i == 'USER']
        self.assertTrue(users, 'no USER: the runtime stage runs as root')
        self.assertNotIn(users[-1].split(':')[0], ('root', '0'))
        workdirs = [a for i, a in final['ins'] if i == 'WORKDIR']
        self.assertTrue(workdirs)
        self.assertTrue([a for i, a in final['ins'] if i == 'VOLUME'])
        (entry,) = [a for i, a in final['ins'] if i == 'ENTRYPOINT']
        entry = json.loads(entry)
        self.assertEqual(os.path.basename(entry[0]), 'image-transfer')

    def test_build_stage_has_the_libraries(self):
        """Every library -dev package deploy/install-deps.sh installs for
        the build (cmocka is for the tests, clang's runtime libraries for
        the fuzz targets) is in the build stage too."""
        build = self.stages[0]
        pkgs = set()
        for i, a in build['ins']:
            if i == 'RUN':
                pkgs |= set(apt_packages(a))
        libs = [p for p in install_deps_packages()
                if p.startswith('lib') and p.endswith('-dev') and
                p not in ('libcmocka-dev', 'libclang-rt-14-dev')]
        self.assertTrue(libs, 'cannot read PKGS of install-deps.sh')
        self.assertEqual(sorted(set(libs) - pkgs), [])
        for p in ('cmake', 'gcc', 'pkg-config', 'dpkg-dev', 'file'):
            self.assertIn(p, pkgs)

    def test_apt_packages_exist(self):
        if not apt_lists_present():
            self.skipTest('no apt package lists on this machine (apt-get '
                          'update): cannot check the Dockerfile packages')
        pkgs = []
        for stage in self.stages:
            for i, a in stage['ins']:
                if i == 'RUN':
                    pkgs += apt_packages(a)
        self.assertGreater(len(pkgs), 5)
        missing = []
        for p in pkgs:
            rc, out, err = run(['apt-cache', 'show', '--no-all-versions', p])
            if rc != 0 or not re.search(r'^Package: ', out, re.M):
                missing.append(p)
        self.assertEqual(missing, [], 'not in the Debian archive')

    def test_dockerignore(self):
        patterns = [p.strip() for p in
                    read(os.path.join(SRC, '.dockerignore')).splitlines()
                    if p.strip() and not p.startswith('#')]
        for p in ('.git', 'build*'):
            self.assertIn(p, patterns)
        self.assertTrue([p for p in patterns if 'node_modules' in p])
        for needed in ('CMakeLists.txt', 'src', 'registry', 'tencentcloud',
                       'tui', 'deploy', 'deploy/image-transfer.1',
                       'deploy/examples', 'deploy/systemd'):
            for p in patterns:
                self.assertFalse(fnmatch.fnmatch(needed, p.lstrip('/')),
                                 '%s excludes %s' % (p, needed))

    def test_docker_build(self):
        if not shutil.which('docker') or \
                run(['docker', 'info'], timeout=30)[0] != 0:
            self.skipTest('no Docker daemon (docker info fails): '
                          'deploy/Dockerfile checked statically only')
        tag = 'image-transfer-test:%d' % os.getpid()
        try:
            rc, out, err = run(['docker', 'build', '-f', DOCKERFILE, '-t',
                                tag, SRC], timeout=540)
            self.assertEqual(rc, 0, out[-3000:] + err[-3000:])
            rc, out, err = run(['docker', 'run', '--rm', tag, '--version'])
            self.assertEqual(rc, 0, err)
            self.assertEqual(version_lines(out), version(), out)
            rc, out, err = run(['docker', 'run', '--rm', '--entrypoint',
                                'id', tag, '-u'])
            self.assertNotEqual(out.strip(), '0')
        finally:
            run(['docker', 'rmi', '-f', tag])


# ------------------------------------------------------------------ .deb

def dpkg_installed(name):
    rc, out, err = run(['dpkg-query', '-W', '-f=${Status}', name])
    return rc == 0 and 'installed' in out.split()[-1:]


def depends_names(field):
    names = set()
    for part in field.split(','):
        for alt in part.split('|'):
            alt = alt.strip()
            if alt:
                names.add(re.split(r'[\s(:]', alt)[0])
    return names


class DebPackageTest(unittest.TestCase):
    """CPack's .deb, from the build under test ($BUILD_DIR)."""

    @classmethod
    def setUpClass(cls):
        cls.sudo = []
        cls.installed = False
        build = os.environ.get('BUILD_DIR')
        if not build or not os.path.exists(
                os.path.join(build, 'CPackConfig.cmake')):
            raise unittest.SkipTest('BUILD_DIR is not a configured build '
                                    '(no CPackConfig.cmake); run from ctest')
        for tool in ('cpack', 'dpkg-deb', 'dpkg'):
            if not shutil.which(tool):
                raise AssertionError('%s is not installed' % tool)
        cls.tmp = tempfile.mkdtemp(prefix='it-deb-')
        cls.build = build
        rc, out, err = run(['cpack', '-G', 'DEB', '--config',
                            os.path.join(build, 'CPackConfig.cmake'),
                            '-B', cls.tmp], timeout=300)
        if rc != 0:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError('cpack failed:\n' + out + err)
        debs = [n for n in os.listdir(cls.tmp) if n.endswith('.deb')]
        if len(debs) != 1:
            raise AssertionError('cpack made %r' % debs)
        cls.deb = os.path.join(cls.tmp, debs[0])

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, 'installed', False):
            cls.purge()
        if getattr(cls, 'tmp', None):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def purge(cls):
        rc, out, err = run(cls.sudo + ['dpkg', '--purge', 'image-transfer'],
                           timeout=120)
        cls.installed = False
        if rc != 0:
            raise AssertionError('dpkg --purge failed: ' + out + err)

    def field(self, name):
        rc, out, err = run(['dpkg-deb', '-f', self.deb, name], check=True)
        return out.strip()

    def test_control(self):
        ver = version()
        arch = run(['dpkg', '--print-architecture'], check=True)[1].strip()
        self.assertEqual(os.path.basename(self.deb),
                         'image-transfer_%s_%s.deb' % (ver, arch))
        self.assertEqual(self.field('Package'), 'image-transfer')
        self.assertEqual(self.field('Version'), ver)
        self.assertEqual(self.field('Architecture'), arch)
        for f in ('Section', 'Maintainer', 'Description'):
            self.assertTrue(self.field(f), f)
        self.assertGreater(len(self.field('Description').splitlines()), 2)
        depends = self.field('Depends')
        print('Depends: ' + depends)
        names = depends_names(depends)
        for lib in ('libcurl4', 'libjansson4', 'libyaml-0-2', 'libssl3',
                    'libsqlite3-0', 'libc6'):
            self.assertIn(lib, names)
        self.assertTrue(names & {'libncursesw6', 'libtinfo6'}, depends)
        self.assertEqual([n for n in names if n.endswith('-dev')], [])
        # control files: maintainer scripts, no conffiles
        with tempfile.TemporaryDirectory() as d:
            run(['dpkg-deb', '-e', self.deb, d], check=True)
            self.assertFalse(os.path.exists(os.path.join(d, 'conffiles')))
            for s in ('postinst', 'prerm', 'postrm'):
                self.assertTrue(os.access(os.path.join(d, s), os.X_OK), s)

    def test_contents(self):
        rc, out, err = run(['dpkg-deb', '-c', self.deb], check=True)
        files = {}
        for line in out.splitlines():
            parts = line.split()
            files[parts[-1]] = parts[0]
        self.assertEqual(files.get('./usr/bin/image-transfer'), '-rwxr-xr-x')
        want = ['./usr/share/man/man1/image-transfer.1.gz'] + [
            './usr/share/doc/image-transfer/examples/' + n
            for n in EXAMPLE_FILES] + [
            './usr/lib/systemd/system/' + n for n in UNIT_FILES] + [
            './usr/' + p for p in COMPLETION_FILES]
        for path in want:
            self.assertEqual(files.get(path), '-rw-r--r--', path)
        self.assertEqual([p for p in files if not p.startswith('./usr/')],
                         [])
        # the packaged files are the ones in the tree
        with tempfile.TemporaryDirectory() as d:
            run(['dpkg-deb', '-x', self.deb, d], check=True)
            with gzip.open(os.path.join(
                    d, 'usr/share/man/man1/image-transfer.1.gz')) as f:
                self.assertEqual(f.read().decode(), read(MAN_SRC))
            for n in EXAMPLE_FILES:
                self.assertEqual(read(os.path.join(
                    d, 'usr/share/doc/image-transfer/examples', n)),
                    read(os.path.join(EXAMPLES, n)))
            for p, src in COMPLETION_FILES.items():
                self.assertEqual(read(os.path.join(d, 'usr', p)),
                                 read(os.path.join(SRC, src)), p)
            unit = read(os.path.join(d, 'usr/lib/systemd/system',
                                     'image-transfer.service'))
            self.assertEqual(unit, read(os.path.join(
                UNITS, 'image-transfer.service')))

    def test_install_run_copy_purge(self):
        """dpkg -i, then the installed program, page and units, a real copy
        with the unit's command line, a rerun, and dpkg --purge."""
        if os.geteuid() != 0:
            if shutil.which('sudo') and run(['sudo', '-n', 'true'])[0] == 0:
                type(self).sudo = ['sudo', '-n']
            else:
                self.skipTest('not root and no password-less sudo: the .deb '
                              'is not installed')
        if dpkg_installed('image-transfer'):
            self.skipTest('an image-transfer package is already installed '
                          'here; not replacing it')
        if os.path.lexists('/usr/bin/image-transfer'):
            self.skipTest('/usr/bin/image-transfer exists (not from a '
                          'package); not overwriting it')
        for d in ('/var/lib/private/image-transfer',
                  '/var/lib/image-transfer'):
            if os.path.lexists(d):
                self.skipTest('%s exists: the purge at the end would '
                              'remove a service state that is not ours' % d)
        rc, out, err = run(self.sudo + ['dpkg', '-i', self.deb], timeout=300)
        type(self).installed = True  # purge even after a partial install
        self.assertEqual(rc, 0, 'dpkg -i:\n' + out + err)
        try:
            self.check_installed()
        finally:
            self.purge()
        self.assertFalse(dpkg_installed('image-transfer'))
        self.assertFalse(os.path.lexists('/usr/bin/image-transfer'))
        for n in UNIT_FILES:
            self.assertFalse(os.path.lexists('/usr/lib/systemd/system/' + n))

    def check_installed(self):
        exe = '/usr/bin/image-transfer'
        rc, out, err = run([exe, '--version'])
        self.assertEqual(rc, 0, err)
        self.assertEqual(version_lines(out), version(), out)
        rc, out, err = run(['ldd', exe])
        self.assertNotIn('not found', out)
        if shutil.which('man'):
            rc, out, err = run(['man', '-w', 'image-transfer'])
            if rc != 0 and run(['dpkg', '-L', 'image-transfer'])[1].find(
                    '/usr/share/man/man1/image-transfer.1.gz') < 0:
                print('man page not installed: dpkg path-exclude on this '
                      'machine? (man -w not checked)')
            else:
                self.assertEqual(
                    (rc, out.strip()),
                    (0, '/usr/share/man/man1/image-transfer.1.gz'), err)
        else:
            print('man is not installed: man -w not checked')
        units = ['/usr/lib/systemd/system/' + n for n in UNIT_FILES]
        if shutil.which('systemd-analyze'):
            # now with the installed binary and the man page check
            extra = [] if shutil.which('man') else ['--man=no']
            rc, ours, other = analyze_verify(units, extra)
            for line in other:
                print('systemd-analyze (not about our units): ' + line)
            self.assertEqual((rc, ours), (0, []))
        else:
            print('systemd-analyze is not installed: installed units not '
                  'verified')
        self.copy_with_unit_command(read(units[0]))

    def copy_with_unit_command(self, unit):
        src = Registry().start()
        dst = Registry(auth='basic',
                       users={'robot': 'Pkg-Test-Pa55word'}).start()
        wd = harness.Workdir(prefix='it-deb-run-')
        try:
            imgs = {'v1': seed_image(src, 'team/app', 'v1'),
                    'v2': seed_image(src, 'team/app', 'v2', kind='index')}
            cred = os.path.join(wd.dir, 'credentials')
            etc = os.path.join(wd.dir, 'etc')
            var = os.path.join(wd.dir, 'var')
            for d in (cred, etc, var):
                os.mkdir(d, 0o700)
            secret = os.path.join(cred, 'registry-secret.yaml')
            harness.write_private(secret, (
                '%s:\n  insecure: true\n%s:\n  username: robot\n'
                '  password: "Pkg-Test-Pa55word"\n  insecure: true\n'
                % (src.host, dst.host)))
            with open(os.path.join(etc, 'transfer-rule.yaml'), 'w') as f:
                f.write('%s/team/app: %s/mirror/app\n' % (src.host, dst.host))
            argv = exec_start_argv(unit, cred, etc, var)
            self.assertEqual(argv[0], '/usr/bin/image-transfer')
            env = clean_env(HOME=wd.dir)
            for attempt in ('copy', 'rerun'):
                rc, out, err = run(argv, env=env, timeout=300)
                self.assertEqual(rc, 0, '%s:\n%s%s' % (attempt, out, err))
                self.assertNotIn('Pkg-Test-Pa55word', out + err)
                with open(os.path.join(var, 'report.json')) as f:
                    report = json.load(f)
                want = 'copied' if attempt == 'copy' else 'skipped'
                self.assertEqual(sorted((i['target'], i['status'])
                                        for i in report['images']),
                                 [('%s/mirror/app:%s' % (dst.host, t), want)
                                  for t in sorted(imgs)])
            self.assertTrue(os.path.getsize(os.path.join(
                var, 'state', 'journal.db')) > 0)
            self.assertEqual(skopeo_tags(dst, 'mirror/app'), sorted(imgs))
            for tag, img in imgs.items():
                raw = skopeo_raw(dst, 'mirror/app', tag)
                self.assertEqual(raw, img['manifest'], tag)
                self.assertEqual(harness.sha256_digest(raw), img['digest'])
                for child in img['children']:
                    self.assertEqual(harness.sha256_digest(
                        skopeo_raw(dst, 'mirror/app', child)), child)
        finally:
            wd.cleanup()
            src.stop()
            dst.stop()


if __name__ == '__main__':
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    print('\nsummary: %d run, %d failures, %d errors, %d skipped'
          % (r.testsRun, len(r.failures), len(r.errors), len(r.skipped)))
    for test, why in r.skipped:
        print('skipped %s: %s' % (test.id(), why))
    sys.exit(0 if r.wasSuccessful() else 1)
