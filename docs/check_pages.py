"""Open the built docs in a headless browser and check that pages render with their tables and
pictures (optional; not part of the test suite: it needs Chromium, Debian's ``chromium``).

    .venv/bin/python -m sphinx -W -b html docs/en docs/_build/html
    .venv/bin/python docs/check_pages.py [--html docs/_build/html] [--screenshots DIR]
                                         [--chromium /usr/bin/chromium]

The pages are served over HTTP from a local port (as a web server would serve them) and loaded,
each in a frame of one probe page, by ``chromium --headless --dump-dom``; the probe reports, per
page, its title, the tables and their rows, and every picture with whether it loaded (complete
and with a width). Each page must reach its minimum (:data:`PAGES`) and have no broken picture.
With ``--screenshots`` a PNG of each page is written there too, to look at. Exit status 0 when
every page passes, 1 otherwise, 2 when Chromium or the built site is missing.
"""
import argparse
import functools
import http.server
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: page -> (minimum tables, minimum rows in its largest table, minimum loaded pictures)
PAGES = {
    'index.html': (0, 0, 1),
    'user_guides/visualization.html': (0, 0, 4),
    'user_guides/sparse.html': (1, 3, 0),
    'model_zoo.html': (1, 20, 0),
    'benchmarks.html': (5, 5, 0),
}

PROBE = """<!DOCTYPE html><html><body><pre id="out">pending</pre><script>
const pages = %s;
const results = {};
let left = pages.length;
function probe(page, frame) {
  const doc = frame.contentDocument;
  const tables = [...doc.querySelectorAll('article table, main table, .body table')];
  const imgs = [...doc.querySelectorAll('article img, main img, .body img')];
  results[page] = {
    title: doc.title,
    tables: tables.length,
    rows: tables.map(t => t.querySelectorAll('tbody tr').length),
    images: imgs.map(i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
                            width: i.naturalWidth})),
  };
  if (--left === 0) document.getElementById('out').textContent = JSON.stringify(results);
}
for (const page of pages) {
  const frame = document.createElement('iframe');
  frame.style.width = '1200px'; frame.style.height = '900px';
  frame.onload = () => probe(page, frame);
  frame.src = page;
  document.body.appendChild(frame);
}
</script></body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder):
    handler = functools.partial(_QuietHandler, directory=folder)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chromium_cmd(chromium, profile):
    return [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
            '--no-first-run', '--hide-scrollbars', f'--user-data-dir={profile}']


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--html', default=osp.join(ROOT, 'docs', '_build', 'html'))
    parser.add_argument('--screenshots', help='write a PNG of each checked page here')
    parser.add_argument('--chromium', default=shutil.which('chromium') or 'chromium')
    parser.add_argument('--timeout', type=int, default=120, help='seconds per browser call')
    args = parser.parse_args()
    if not shutil.which(args.chromium) and not osp.isfile(args.chromium):
        print(f'no Chromium at {args.chromium!r}: apt-get install chromium', file=sys.stderr)
        return 2
    if not osp.isfile(osp.join(args.html, 'index.html')):
        print(f'no built site in {args.html}: build it first (see this script\'s docstring)',
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        probe_name = '_check_pages_probe.html'
        site = osp.join(tmp, 'site')
        shutil.copytree(args.html, site)
        with open(osp.join(site, probe_name), 'w') as f:
            f.write(PROBE % json.dumps(list(PAGES)))
        server = serve(site)
        base = f'http://127.0.0.1:{server.server_address[1]}/'
        try:
            out = subprocess.run(
                chromium_cmd(args.chromium, osp.join(tmp, 'profile')) +
                ['--virtual-time-budget=20000', '--dump-dom', base + probe_name],
                capture_output=True, text=True, timeout=args.timeout)
            if args.screenshots:
                os.makedirs(args.screenshots, exist_ok=True)
                for page in PAGES:
                    png = osp.abspath(osp.join(args.screenshots, page.replace('/', '_') + '.png'))
                    subprocess.run(
                        chromium_cmd(args.chromium, osp.join(tmp, 'profile')) +
                        ['--window-size=1280,1600', '--virtual-time-budget=5000',
                         f'--screenshot={png}', base + page],
                        capture_output=True, timeout=args.timeout)
        finally:
            server.shutdown()
    m = re.search(r'<pre id="out">(.*?)</pre>', out.stdout, re.S)
    if not m or m.group(1) == 'pending':
        print('the probe page did not finish: ' + (out.stderr[-2000:] or out.stdout[-2000:]),
              file=sys.stderr)
        return 1
    import html
    results = json.loads(html.unescape(m.group(1)))
    failed = False
    for page, (min_tables, min_rows, min_images) in PAGES.items():
        r = results.get(page)
        if r is None:
            print(f'FAIL {page}: not probed')
            failed = True
            continue
        loaded = [i for i in r['images'] if i['loaded']]
        broken = [i['src'] for i in r['images'] if not i['loaded']]
        problems = []
        if r['tables'] < min_tables:
            problems.append(f'{r["tables"]} tables (at least {min_tables})')
        if max(r['rows'], default=0) < min_rows:
            problems.append(f'largest table {max(r["rows"], default=0)} rows (at least {min_rows})')
        if len(loaded) < min_images:
            problems.append(f'{len(loaded)} pictures loaded (at least {min_images})')
        if broken:
            problems.append(f'broken pictures {broken}')
        failed |= bool(problems)
        print(f'{"FAIL" if problems else "ok  "} {page}: "{r["title"]}", {r["tables"]} tables '
              f'(rows {r["rows"]}), {len(loaded)}/{len(r["images"])} pictures loaded'
              + (f'; {"; ".join(problems)}' if problems else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
