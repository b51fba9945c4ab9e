"""Shell completion (deploy/completion/): both files offer exactly the long
flags --help lists; the bash one, sourced in a real bash, completes flags,
file names for the file flags and directories for --state-dir through its
completion function with COMP_WORDS / COMP_CWORD as bash sets them. The zsh
file is checked statically, and parsed by zsh only when zsh is installed.
"""
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
from test_package import help_flags, help_text  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.environ.get('TESTS_DIR', os.path.join(HERE, '..'))
SRC = os.path.abspath(os.path.join(TESTS_DIR, '..'))
BASH_FILE = os.path.join(SRC, 'deploy', 'completion', 'image-transfer.bash')
ZSH_FILE = os.path.join(SRC, 'deploy', 'completion', '_image-transfer')
FILE_FLAGS = ('--securityFile', '--security-file', '--ruleFile',
              '--rule-file', '--secretFile', '--secret-file', '--report',
              '--log-file', '--ca-file', '--metrics-file', '--events')


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def long_flags(text):
    return set(re.findall(r'(?<![\w-])--[A-Za-z][A-Za-z0-9-]*', text))


def bash_complete(words, cword, cwd):
    """COMPREPLY of _image_transfer for COMP_WORDS=words, COMP_CWORD=cword,
    one entry a line."""
    script = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _image_transfer; '
              'printf "%%s\\n" "${COMPREPLY[@]}"' % (
                  shlex.quote(BASH_FILE),
                  ' '.join(shlex.quote(w) for w in words), cword))
    p = subprocess.run(['bash', '--norc', '--noprofile', '-c', script],
                       capture_output=True, text=True, timeout=30, cwd=cwd)
    if p.returncode != 0 or p.stderr:
        raise AssertionError('bash: %d %s' % (p.returncode, p.stderr))
    return [l for l in p.stdout.splitlines() if l]


class CompletionTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.help = help_flags(help_text())
        assert len(cls.help) > 20, cls.help

    def test_bash_flags_match_help(self):
        self.assertEqual(long_flags(read(BASH_FILE)), self.help)

    def test_zsh_flags_match_help(self):
        self.assertEqual(long_flags(read(ZSH_FILE)), self.help)
        src = read(ZSH_FILE)
        self.assertTrue(src.startswith('#compdef image-transfer\n'))
        for f in FILE_FLAGS:
            self.assertRegex(src, re.escape(f) + r"=[^\n]*:_files'",
                             '%s completes files in zsh' % f)
        self.assertRegex(src, r"--state-dir=[^\n]*:_files -/'")

    def test_zsh_parses(self):
        zsh = shutil.which('zsh')
        if not zsh:
            self.skipTest('zsh is not installed: checked statically only')
        p = subprocess.run([zsh, '-n', ZSH_FILE], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr), (0, ''))

    def test_bash_completes_flags(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(
                sorted(bash_complete(['image-transfer', '--secu'], 1, d)),
                ['--security-file', '--securityFile'])
            self.assertEqual(
                bash_complete(['image-transfer', '--tui', '--no-t'], 2, d),
                ['--no-tui'])
            self.assertEqual(
                sorted(bash_complete(['image-transfer', '--'], 1, d)),
                sorted(self.help))

    def test_bash_completes_files_and_dirs(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, 'state'))
            for n in ('rules.yaml', 'secrets.yaml'):
                with open(os.path.join(d, n), 'w'):
                    pass
            for f in FILE_FLAGS:
                # "--flag value" and "--flag=value" (bash splits at '=')
                self.assertEqual(
                    bash_complete(['image-transfer', f, 'ru'], 2, d),
                    ['rules.yaml'], f)
                self.assertEqual(
                    bash_complete(['image-transfer', f, '=', 'se'], 3, d),
                    ['secrets.yaml'], f)
            self.assertEqual(
                bash_complete(['image-transfer', '--state-dir', ''], 2, d),
                ['state'])
            self.assertEqual(
                bash_complete(['image-transfer', '--log-level', 'd'], 2, d),
                ['debug'])
            self.assertEqual(
                bash_complete(['image-transfer', '--ccrToTcr', '=', ''], 3,
                              d), ['true', 'false'])


if __name__ == '__main__':
    unittest.main(verbosity=2)
