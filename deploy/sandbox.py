#!/usr/bin/env python3
"""A local sandbox for image-transfer: a whole (demo) CCR account migrated
into a TCR Enterprise instance by `image-transfer --ccrToTcr=true`, with
the live dashboard when this is a terminal (headless progress lines
otherwise).

What runs, all on 127.0.0.1 and all stopped when this ends:
  * a docker-registry standing in for CCR (the account's images),
  * a docker-registry standing in for the TCR instance (basic auth; the
    login is the one CreateInstanceToken hands out),
  * the test suite's double of the Tencent Cloud API
    (tests/fakes/fake_tc_api.py), holding the demo account: 3 namespaces,
    20 repositories, 57 tags on shared base layers, one multi-platform OCI
    index and one OCI image; it verifies every TC3-HMAC-SHA256 signature.

Everything lives in one directory (default: .sandbox/ at the top of the
source tree): the registries' storage, the config files, the journal and
the report. A second run reuses it, so it copies nothing: every tag is
skipped. --reset starts from scratch.

Options: --dir DIR, --reset, --binary PATH, --generic (a rule-file
migration between the two registries instead), plus image-transfer flags
after `--`.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
import harness  # noqa: E402
import tcfake  # noqa: E402

# The demo account's Tencent Cloud API key (the double's, not a real one)
# and the TCR instance's login as CreateInstanceToken returns it.
SECRET_ID, SECRET_KEY = 'AKIDsandboxKey0000000000000000001', 'sandboxKey01'
TCR_UIN, TCR_TOKEN = '100000000042', 'sandbox-instance-token'
TCR_NAME, TCR_ID, REGION = 'sandbox-tcr', 'tcr-sandbox1', 'ap-guangzhou'

# namespace -> [(repository, number of tags)]; one repository holds the
# multi-platform index, one tag of another an OCI image.
ACCOUNT = {
    'shop': [('web', 4), ('api', 4), ('cart', 3), ('checkout', 3),
             ('search', 3), ('payments', 3), ('frontend', 3)],
    'infra': [('nginx-proxy', 3), ('redis', 3), ('etcd', 2),
              ('prometheus', 3), ('grafana', 3), ('fluent-bit', 2),
              ('multiarch-base', 1)],
    'data': [('etl', 3), ('kafka-connect', 3), ('spark-job', 3),
             ('notebook', 3), ('warehouse', 2), ('reports', 3)],
}
INDEX_IMAGE = ('infra/multiarch-base', 'v1.0')
OCI_IMAGE = ('data/reports', 'v1.2')


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the registry binds (Go sets SO_REUSEADDR): connections of the
        # last run still in TIME_WAIT don't make the port busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def load_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_state(path, state):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def seed_account(ccr):
    """Pushes the demo account's images; returns {repo: [[tag, digest,
    push_time]]}. Deterministic: the same bytes every time."""
    # Base layers shared by many images, as real accounts have.
    debian = [harness.make_layer(11, 2 * 1024 * 1024, 1),
              harness.make_layer(12, 512 * 1024, 1)]
    alpine = [harness.make_layer(21, 1024 * 1024, 1)]
    account = {}
    day = 0
    for ns, repos in sorted(ACCOUNT.items()):
        for r, (name, ntags) in enumerate(repos):
            repo = '%s/%s' % (ns, name)
            for t in range(ntags):
                tag = 'v1.%d' % t
                seed = 1000 + len(account) * 10 + t
                kind = ('index' if (repo, tag) == INDEX_IMAGE else
                        'oci' if (repo, tag) == OCI_IMAGE else 'v2s2')
                own = [harness.make_layer(seed, (192 + 64 * t) * 1024, 1)]
                img = harness.seed_image(
                    ccr, repo, tag, kind=kind, layers=own,
                    shared=alpine if ns == 'data' else debian, seed=seed)
                day += 1
                account.setdefault(repo, []).append(
                    [tag, img['digest'], '2026-%02d-%02d 10:00:00' % (
                        1 + day // 28, 1 + day % 28)])
    return account


def fixture_for(ccr, tcr, account, tcr_namespaces):
    return {
        'credentials': [{'secret_id': SECRET_ID, 'secret_key': SECRET_KEY}],
        'uin': TCR_UIN,
        'ccr': {'server': ccr.host,
                'namespaces': [{'name': ns,
                                'creation_time': '2025-06-01 00:00:00'}
                               for ns in sorted(ACCOUNT)],
                'repos': [{'name': repo, 'public': 0, 'tags': [
                    {'name': t, 'digest': d, 'size': 0, 'push_time': p}
                    for t, d, p in tags]}
                    for repo, tags in sorted(account.items())]},
        'tcr': {'instances': [{'id': TCR_ID, 'name': TCR_NAME,
                               'status': 'Running', 'region': REGION,
                               'type': 'basic', 'public_domain': tcr.host,
                               'token': TCR_TOKEN}],
                'namespaces': tcr_namespaces or {TCR_ID: []}, 'repos': {}},
        'options': {'faults': [], 'clock_offset': 0, 'token_ttl': 3600},
    }


def verify(ccr, tcr, account, dst_repo):
    """skopeo reads every tag on both sides: returns the mismatches."""
    jobs = [(repo, t) for repo, tags in account.items() for t, _, _ in tags]

    def check(job):
        repo, tag = job
        try:
            got = harness.skopeo_raw(tcr, dst_repo(repo), tag)
        except subprocess.CalledProcessError:
            return 'missing'
        return 'MISMATCH' if got != harness.skopeo_raw(ccr, repo, tag) \
            else None
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bad = [j + (b,) for j, b in zip(jobs, pool.map(check, jobs)) if b]
    return len(jobs), bad


def report_summary(path):
    """The report's summary object, or None without a (readable) one."""
    try:
        with open(path) as f:
            s = json.load(f)['summary']
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return s if isinstance(s, dict) else None


def report_line(path):
    s = report_summary(path)
    if s is None:
        return 'no report'
    v = s.get('verify')
    if isinstance(v, dict):  # a --verify run: the verdicts, no copy
        line = ('%d images verified (%s): %d identical, %d missing, '
                '%d different, %d incomplete, %d errors' % (
                    s.get('images_total', 0), v.get('depth', '?'),
                    v.get('identical', 0), v.get('missing', 0),
                    v.get('different', 0), v.get('incomplete', 0),
                    v.get('errors', 0)))
        if s.get('images_platform_skipped'):
            line += ', %d not selected (platform)' % s[
                'images_platform_skipped']
        return line
    return ('%d images: %d copied, %d skipped, %d failed; %.1f MiB moved' % (
        s.get('images_total', 0), s.get('images_copied', 0),
        s.get('images_skipped', 0), s.get('images_failed', 0),
        s.get('bytes_copied', 0) / 1048576.0))


REAL_ACCOUNT = """
To migrate a real CCR account the same way, on a machine that can reach
Tencent Cloud:

  1. registry-secret.yaml (chmod 600) - only if you log in to TCR with a
     long-term credential; otherwise image-transfer asks the API for a
     temporary instance token:
       {tcr_name}.tencentcloudcr.com:
         username: <your UIN>
         password: <a TCR long-term access token>
  2. tencentcloud-secret.yaml (chmod 600), an API key allowed to use TCR:
       ccr:
         secretId: AKID...
         secretKey: ...
       tcr:
         secretId: AKID...
         secretKey: ...
  3. Look first, then run:
       image-transfer --ccrToTcr=true --secretFile=tencentcloud-secret.yaml \\
           --securityFile=registry-secret.yaml --tcrName=<instance name> \\
           --tcrRegion=ap-guangzhou --ccrRegion=ap-guangzhou \\
           --state-dir=./it-state --report=report.json --dry-run
     and the same without --dry-run (inside tmux, to keep the dashboard
     when the SSH session drops). The jump-host runbook is
     deploy/runbook.md.
"""


def ccr_command(a, d, ccr, tcr, fake):
    sec = os.path.join(d, 'config', 'registry-secret.yaml')
    tcs = os.path.join(d, 'config', 'tencentcloud-secret.yaml')
    # Both registries speak plain HTTP on loopback; the TCR login comes
    # from CreateInstanceToken, as it does for a real instance.
    harness.write_private(sec, '%s:\n  insecure: true\n%s:\n'
                          '  insecure: true\n' % (ccr.host, tcr.host))
    harness.write_private(tcs, 'ccr:\n  secretId: %s\n  secretKey: %s\n'
                          % (SECRET_ID, SECRET_KEY))
    return [a.binary, '--ccrToTcr=true', '--securityFile=' + sec,
            '--secretFile=' + tcs, '--tcrName=' + TCR_NAME,
            '--tcrRegion=' + REGION, '--ccrRegion=' + REGION,
            # the two flags that point the tool at the sandbox instead of
            # Tencent Cloud: the API endpoint and the CCR registry host
            '--tc-endpoint=' + fake.endpoint, '--ccr-registry=' + ccr.host]


def generic_command(a, d, ccr, tcr, account):
    sec = os.path.join(d, 'config', 'registry-secret.yaml')
    rules = os.path.join(d, 'config', 'transfer-rule.yaml')
    harness.write_private(sec, '%s:\n  insecure: true\n%s:\n  username: %s\n'
                          '  password: %s\n  insecure: true\n' % (
                              ccr.host, tcr.host, TCR_UIN, TCR_TOKEN))
    with open(rules, 'w') as f:
        f.write('# every tag of every repository, into migrated/<ns>-<repo>\n')
        for repo in sorted(account):
            f.write('%s/%s: %s/migrated/%s\n' % (
                ccr.host, repo, tcr.host, repo.replace('/', '-')))
    return [a.binary, '--securityFile=' + sec, '--ruleFile=' + rules]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--binary', default=os.path.join(TOP, 'build', 'src',
                                                      'image-transfer'))
    ap.add_argument('--dir', default=os.path.join(TOP, '.sandbox'))
    ap.add_argument('--reset', action='store_true')
    ap.add_argument('--generic', action='store_true')
    ap.add_argument('--ccr', action='store_true',
                    help='the default (kept for older instructions)')
    ap.add_argument('extra', nargs='*')
    a = ap.parse_args()

    d = os.path.abspath(a.dir)
    if a.reset:
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, 'config'), exist_ok=True)
    state_path = os.path.join(d, 'sandbox.json')
    st = load_state(state_path)
    first = 'account' not in st
    ports = st.get('ports', {})
    for k in ('ccr', 'tcr'):
        if not ports.get(k) or not port_free(ports[k]):
            ports[k] = harness.free_port()
    st['ports'] = ports

    # Same ports as last time, so that the journal's records (keyed by
    # registry host) still apply and the rerun settles each tag from it.
    # Out of the terminal's process group (a Ctrl-C is for image-transfer);
    # a hang-up or SIGTERM still stops them: it ends main() through the
    # finally below.
    ccr = harness.Registry(root=os.path.join(d, 'ccr'), port=ports['ccr'],
                           own_session=True)
    tcr = harness.Registry(auth='basic', users={TCR_UIN: TCR_TOKEN},
                           root=os.path.join(d, 'tcr'), port=ports['tcr'],
                           own_session=True)
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    fake = None
    try:
        ccr.start()
        tcr.start()
        print('sandbox: in %s (%s)' % (
            d, 'first run' if first
            else 'a rerun: what is already there is skipped'))
        print('sandbox: "CCR" registry  http://%s (anonymous)' % ccr.host)
        print('sandbox: "TCR" instance  http://%s (basic auth; login from '
              'CreateInstanceToken)' % tcr.host)
        if first:
            st['account'] = seed_account(ccr)
            save_state(state_path, st)
        account = st['account']
        ntags = sum(len(t) for t in account.values())
        print('sandbox: the demo CCR account: %d namespaces, %d '
              'repositories, %d tags%s' % (
                  len(ACCOUNT), len(account), ntags,
                  ' (seeded just now)' if first else ''))
        report = os.path.join(d, 'report.json')
        common = ['--state-dir=' + os.path.join(d, 'state'),
                  '--report=' + report, '--routines=4', '--bandwidth=3M']
        if a.generic:
            cmd = generic_command(a, d, ccr, tcr, account)
        else:
            fake = tcfake.FakeTC(fixture_for(ccr, tcr, account,
                                             st.get('tcr_namespaces')),
                                 prefix='image-transfer-sandbox-api-',
                                 own_session=True)
            print('sandbox: Tencent Cloud API double at %s (instance %r '
                  'in %s)' % (fake.endpoint, TCR_NAME, REGION))
            cmd = ccr_command(a, d, ccr, tcr, fake)
        cmd += common + a.extra
        print('sandbox: running', ' '.join(cmd))
        sys.stdout.flush()
        # Ctrl-C is for image-transfer (it stops gracefully and writes the
        # journal and report); the sandbox waits for it, then cleans up.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            rc = subprocess.call(cmd, preexec_fn=lambda: signal.signal(
                signal.SIGINT, signal.SIG_DFL))
        finally:
            signal.signal(signal.SIGINT, old)
        if fake is not None:
            st['tcr_namespaces'] = fake.control('GET', '/__state')[
                'tcr_namespaces']
            save_state(state_path, st)
        print('sandbox: image-transfer exited with %d' % rc)
        n, bad = verify(ccr, tcr, account,
                        (lambda r: 'migrated/' + r.replace('/', '-'))
                        if a.generic else (lambda r: r))
        for repo, tag, what in bad:
            print('sandbox: %s %s:%s' % (what, repo, tag))
        missing = sum(1 for b in bad if b[2] == 'missing')
        print('sandbox: skopeo compared %d tags on both sides: %d '
              'mismatches%s' % (n, len(bad) - missing,
                                ', %d not on the target (yet: run this '
                                'again to finish)' % missing
                                if missing else ''))
        print('sandbox: report %s: %s' % (report, report_line(report)))
        summary = report_summary(report) or {}
        if isinstance(summary.get('verify'), dict):  # a --verify run
            again = 'a copy run (without --verify) %s' % (
                'skips every tag' if rc == 0 and not bad
                else 'repairs what is not identical')
        else:
            again = 'run this again: %s' % (
                'every tag is skipped' if rc == 0 and not bad
                else 'it finishes what is left')
        print('sandbox: journal %s; %s (--reset starts over)' % (
            os.path.join(d, 'state'), again))
        if not a.generic:
            print(REAL_ACCOUNT.format(tcr_name='<instance>').rstrip())
        return 0 if rc == 0 and not bad else 1
    finally:
        if fake is not None:
            fake.close()
        tcr.stop()
        ccr.stop()


if __name__ == '__main__':
    sys.exit(main())
