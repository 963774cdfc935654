import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  parseCorefile,
  printCorefile,
  getForwarders,
  forwardChain,
  setForwarders,
  setClusterDomain,
  CorefileError,
  type CorefileDirective,
  type CorefileServerBlock,
} from '../../src/dns/corefile.js';
import { InternalError } from '../../src/errors.js';
import { readAsCoreDns } from '../../src/dns/coredns-reading.js';
import { packagePath } from '../../src/adapters/package-files.js';

const FIXTURES = packagePath('test', 'fixtures', 'corefiles');
const fixture = (name: string): string => readFileSync(`${FIXTURES}/${name}`, 'utf8');

/** The lines that differ between two texts: one changed region (edits here are always local). */
function lineDiff(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  return { removed: a.slice(start, endA), added: b.slice(start, endB) };
}

/** A directive list as nested arrays: [name, ...args, [block directives...]]. */
type Outline = Array<string | Outline>;
function outline(directives: CorefileDirective[]): Outline[] {
  return directives.map((d) => [d.name.text, ...d.parts.map((p) => (p.kind === 'block' ? outline(p.directives) : p.text))]);
}

const corefileError = (message: string) => (e: unknown) => e instanceof CorefileError && e.message === message;

test('the corpus covers every fixture, and each one prints back byte for byte', () => {
  const files = readdirSync(FIXTURES).sort();
  assert.deepEqual(files, [
    'cache-ttl.corefile',
    'comments.corefile',
    'crlf.corefile',
    'env-placeholders.corefile',
    'k3s-default.corefile',
    'kubeadm-default.corefile',
    'microk8s-default.corefile',
    'multi-key.corefile',
    'no-forward.corefile',
    'odd-whitespace.corefile',
    'snippet-forward.corefile',
    'snippets.corefile',
    'stub-domain.corefile',
    'user-hosts.corefile',
  ]);
  for (const file of files) {
    const text = fixture(file);
    assert.equal(printCorefile(parseCorefile(text)), text, file);
  }
  // The CRLF fixture really has CRLF line ends, the odd one really has no final newline.
  const crlf = fixture('crlf.corefile');
  assert.equal(crlf.match(/\r\n/g)?.length, 15);
  assert.ok(!/(^|[^\r])\n/.test(crlf));
  assert.ok(!fixture('odd-whitespace.corefile').endsWith('\n'));
});

test('round trip of odd inputs: empty, blank, BOM, comments only, one-line blocks', () => {
  const table = [
    '',
    '\n\n',
    '# only a comment',
    '\ufeff.:53 {\n    errors\n}\n',
    '.:53\nerrors\nforward . 1.1.1.1',
    '.:53 {\n}\n',
    '.:53 { errors\n}\n',
    'a.test {\n  hosts { 1.2.3.4 a.test }\n}\n',
    '.:53 {\r\n\tforward . 1.1.1.1\r\n}',
    '.:53 {\n  template IN A x {\n    answer "multi\nline \\"quoted\\" \\\\ token" next\n  }\n}\n',
    '.:53 {\n\u00a0 errors\u2003\n}\n',
  ];
  for (const text of table) assert.equal(printCorefile(parseCorefile(text)), text, JSON.stringify(text));
});

test('structure of MicroK8s default Corefile', () => {
  const cf = parseCorefile(fixture('microk8s-default.corefile'));
  assert.equal(cf.entries.length, 1);
  const block = cf.entries[0] as CorefileServerBlock;
  assert.equal(block.type, 'server');
  assert.deepEqual(block.keys.map((k) => k.text), ['.:53']);
  assert.deepEqual(outline(block.directives), [
    ['errors'],
    ['health'],
    ['ready'],
    ['kubernetes', 'cluster.local', 'in-addr.arpa', 'ip6.arpa', [['pods', 'insecure'], ['fallthrough', 'in-addr.arpa', 'ip6.arpa']]],
    ['prometheus', ':9153'],
    ['forward', '.', '8.8.8.8', '8.8.4.4'],
    ['cache', '30'],
    ['loop'],
    ['reload'],
    ['loadbalance'],
  ]);
  assert.deepEqual([block.open?.line, block.open?.column, block.close?.line, block.close?.column], [1, 6, 15, 1]);
  assert.equal(cf.trailing, '\n');
});

test('structure: snippets, imports, multiple keys, key continuation, Allman braces, comments', () => {
  const snippets = parseCorefile(fixture('snippets.corefile'));
  assert.deepEqual(
    snippets.entries.map((e) => (e.type === 'import' ? 'import' : `${e.type}:${e.keys.map((k) => k.text).join(' ')}`)),
    ['snippet:(common)', 'snippet:(upstream)', 'server:.:53', 'server:internal.example:53'],
  );
  assert.deepEqual(outline((snippets.entries[0] as CorefileServerBlock).directives), [['errors'], ['cache', '30'], ['log', '.', [['class', 'error']]]]);

  const k3s = parseCorefile(fixture('k3s-default.corefile'));
  const last = k3s.entries[1];
  assert.equal(last?.type, 'import');
  assert.deepEqual(last?.type === 'import' ? outline([last.directive]) : [], [['import', '/etc/coredns/custom/*.server']]);
  assert.deepEqual(outline((k3s.entries[0] as CorefileServerBlock).directives).slice(4, 5), [
    ['hosts', '/etc/coredns/NodeHosts', [['ttl', '60'], ['reload', '15s'], ['fallthrough']]],
  ]);

  const multi = parseCorefile(fixture('multi-key.corefile'));
  assert.deepEqual(
    multi.entries.map((e) => (e.type === 'import' ? [] : e.keys.map((k) => k.text))),
    [['dns://.:53', 'example.org:53'], ['a.example:5300,', 'b.example:5300'], ['tls://.:853']],
  );

  const comments = parseCorefile(fixture('comments.corefile'));
  const root = comments.entries[0] as CorefileServerBlock;
  assert.deepEqual(outline(root.directives).slice(0, 1), [['errors']]);
  assert.deepEqual(outline(root.directives).slice(5, 7), [
    ['forward', '.', '8.8.8.8', '8.8.4.4', [['max_concurrent', '1000'], ['policy', 'sequential']]],
    ['cache', '30'],
  ]);
  assert.equal(comments.trailing, ' # end of root\n# trailing comment without a final newline');

  const odd = parseCorefile(fixture('odd-whitespace.corefile'));
  assert.deepEqual(outline((odd.entries[0] as CorefileServerBlock).directives), [
    ['errors'],
    ['health', [['lameduck', '5s']]],
    ['ready'],
    ['template', 'IN', 'A', 'example.test', [['answer', '{{ .Name }} 60 IN A 127.0.0.1'], ['answer', '{{ .Name }} 60 IN TXT "hi there"']]],
    ['kubernetes', 'cluster.local', 'in-addr.arpa', 'ip6.arpa', [['pods', 'insecure'], ['fallthrough', 'in-addr.arpa', 'ip6.arpa']]],
    ['forward', '.', '8.8.8.8', '8.8.4.4'],
    ['rewrite', 'name', 'regex', '(.*)\\.old\\.test', '{1}.new.test'],
    ['cache', '30'],
  ]);
});

test('tokens: quotes, placeholders, comments inside words, backquotes and backslashes as CoreDNS reads them', () => {
  const table: [string, Outline[]][] = [
    ['x {\n  d "a \\"b\\" c"\n}', [['d', 'a "b" c']]],
    ['x {\n  d "a\\\\b\\n"\n}', [['d', 'a\\\\b\\n']]],
    // Backquotes are ordinary characters to CoreDNS (Caddy 2 quotes with them, CoreDNS's Caddy 1 does not).
    ['x {\n  d `a "b" \\c`\n}', [['d', '`a', 'b', '\\c`']]],
    ['x {\n  log . `{remote} {name}`\n}', [['log', '.', '`{remote}', '{name}`']]],
    ['x {\n  d "two"words\n}', [['d', 'two', 'words']]],
    ['x {\n  d mid"quote"\n}', [['d', 'mid"quote"']]],
    // `#` inside a word ends the word and comments out only the rest of that word.
    ['x {\n  forward . 1.1.1.1#google\n}', [['forward', '.', '1.1.1.1']]],
    ['x {\n  forward . 1.1.1.1#853 8.8.8.8\n}', [['forward', '.', '1.1.1.1', '8.8.8.8']]],
    ['x {\n  cache 30#glued comment\n}', [['cache', '30', 'comment']]],
    ['x {\n  cache 30\r#glued\r\r comment\n}', [['cache', '30', 'comment']]],
    ['x {\n  d "q"#quoted then comment\n  e\n}', [['d', 'q'], ['e']]],
    ['x {\n  d # a comment at a token start runs to the end of the line\n  e\n}', [['d'], ['e']]],
    ['x {\n  d "# not a comment"\n}', [['d', '# not a comment']]],
    ['x {\n  d {$VAR} {env.X} {%WIN%} foo{ }bar {}\n}', [['d', '{$VAR}', '{env.X}', '{%WIN%}', 'foo{', '}bar', '{}']]],
    // A backslash is an ordinary character: at the end of a line it is an argument, and the next line is a
    // new directive.
    ['x {\n  d a\\b \\c\n}', [['d', 'a\\b', '\\c']]],
    ['x {\n  d a \\\n    b\\\r\n  c\n}', [['d', 'a', '\\'], ['b\\'], ['c']]],
    // A carriage return outside quotes is dropped, even inside a word (corefiles-lexer y04).
    ['.:53 {\n    forward . 8.8.8.8\r9.9.9.9\n}\n', [['forward', '.', '8.8.8.89.9.9.9']]],
    // A quoted brace is a brace (corefiles-lexer y03).
    ['.:53 {\n    forward . 8.8.8.8 "{"\n        max_concurrent 10\n    "}"\n}\n', [['forward', '.', '8.8.8.8', [['max_concurrent', '10']]]]],
  ];
  for (const [text, expected] of table) {
    const block = parseCorefile(text).entries[0] as CorefileServerBlock;
    assert.deepEqual(outline(block.directives), expected, JSON.stringify(text));
    assert.equal(printCorefile(parseCorefile(text)), text);
    // readAsCoreDns agrees, token for token.
    const flat = (o: string | Outline): string[] => (typeof o === 'string' ? [o] : o.flatMap((p) => (typeof p === 'string' ? [p] : ['{', ...p.flatMap(flat), '}'])));
    // (placeholders replaced: the variables are not set)
    assert.deepEqual(
      readAsCoreDns(text).blocks[0]?.directives.map((d) => d.tokens.map((t) => t.text)),
      expected.map(flat).map((tokens) => tokens.map((t) => (t === '{$VAR}' || t === '{%WIN%}' ? '' : t))),
      JSON.stringify(text),
    );
  }
});

test('syntax errors: exact messages with line:column', () => {
  const table: [string, string][] = [
    ['.:53 {\n    errors\n', 'Corefile:1:6: "{" is never closed: add the matching "}"'],
    ['.:53 {\n  kubernetes cluster.local {\n    pods insecure\n', 'Corefile:2:28: "{" is never closed: add the matching "}"'],
    ['.:53 { errors }\n', 'Corefile:1:15: "}" closes the server block on the line of directive "errors", which CoreDNS rejects: put the "}" on a line of its own'],
    ['.:53 {\n  cache 30 {\n  } }\n', 'Corefile:3:5: "}" closes the server block on the line of directive "cache", which CoreDNS rejects: put the "}" on a line of its own'],
    ['.:53 {\n  forward . "1.1.1.1\n}\n', 'Corefile:2:13: unterminated quoted string: add the closing "'],
    ['.:53 {\n  import\n}\n', 'Corefile:2:3: import needs one argument: a file, a glob or a snippet name'],
    ['.:53 {\n  import a b\n}\n', 'Corefile:2:3: import takes one argument (a file, a glob or a snippet name), not 2'],
    ['import a {\n}\n', 'Corefile:1:1: import takes no "{ }" block: write import FILE, GLOB or SNIPPET'],
    ['import a }\n', 'Corefile:1:10: unexpected "}": no "{" is open here; remove it'],
    ['(common)\n  errors\n', 'Corefile:1:1: snippet (common) needs a body: write "(common) {", its directives, then "}"'],
    ['(c) {\n  errors\n}\n(c) {\n  log\n}\n', 'Corefile:4:1: snippet (c) is defined twice: rename or remove one'],
    ['.:53 {\n  {\n  }\n}\n', 'Corefile:2:3: unexpected "{": a block must follow a directive, e.g. "forward . 8.8.8.8 {"'],
    ['a.test:53,\n', 'Corefile:1:1: the server keys end with a comma after "a.test:53,": add another key or remove the comma'],
    ['a.test:53, {\n}\n', 'Corefile:1:12: expected another server key after "a.test:53,": add one or remove the comma'],
    ['.:53 {\n  errors\n}\n.:53 {\n  errors\n', 'Corefile:4:6: "{" is never closed: add the matching "}"'],
    ['# héllo wörld\n.:53 { ünï }\n', 'Corefile:2:12: "}" closes the server block on the line of directive "ünï", which CoreDNS rejects: put the "}" on a line of its own'],
  ];
  for (const [text, message] of table) assert.throws(() => parseCorefile(text), corefileError(message), JSON.stringify(text));
  assert.throws(
    () => parseCorefile('.:53 {\n', { source: 'configmap/coredns' }),
    corefileError('configmap/coredns:1:6: "{" is never closed: add the matching "}"'),
  );
  const err = (() => {
    try {
      parseCorefile('x {\n  a {\n');
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof CorefileError);
  assert.deepEqual([err.line, err.column, err.exitCode, err.reason], [2, 5, 3, '"{" is never closed: add the matching "}"']);
});

test('what CoreDNS accepts, odd as it is, parses, prints back and reads as CoreDNS reads it', () => {
  const table: [string, Array<[string[], string[][]]>][] = [
    // An extra "}" is a server block with the key "}" to CoreDNS; so is a "}" after the keys.
    ['.:53 {\n    errors\n}\n}\n', [[['.:53'], [['errors']]], [['}'], []]]],
    ['}\n', [[['}'], []]]],
    ['.:53 }\n', [[['.:53', '}'], []]]],
    // `}# after close` is a "}" and then a server block with the keys "after" and "close".
    ['.:53 {\n    errors\n}# after close\n', [[['.:53'], [['errors']]], [['after', 'close'], []]]],
    // A block without braces ends at a "}".
    ['.:53\n  errors\n}\n', [[['.:53'], [['errors']]]]],
    // A "{" left open is closed by the file's last "}" when that closed a directive's block.
    ['.:53 {\n  kubernetes cluster.local {\n    pods insecure\n}\n', [[['.:53'], [['kubernetes', 'cluster.local', '{', 'pods', 'insecure', '}']]]]],
    // A block without keys is read and dropped.
    ['{\n  errors\n}\n.:53 {\n  log\n}\n', [[['.:53'], [['log']]]]],
  ];
  for (const [text, blocks] of table) {
    assert.equal(printCorefile(parseCorefile(text)), text, JSON.stringify(text));
    assert.deepEqual(
      readAsCoreDns(text).blocks.map((b) => [b.keys, b.directives.map((d) => d.tokens.map((t) => t.text))]),
      blocks,
      JSON.stringify(text),
    );
  }
});

interface ForwardCase {
  file: string;
  key?: string;
  before: string[] | undefined;
  servers: string[];
  removed: string[];
  added: string[];
  fileImports?: string[];
  /** Other server blocks and what their forward must still say afterwards. */
  others?: [string, string[] | undefined][];
}

const FORWARD_CASES: ForwardCase[] = [
  {
    file: 'microk8s-default.corefile',
    before: ['8.8.8.8', '8.8.4.4'],
    servers: ['1.1.1.1', '1.0.0.1'],
    removed: ['    forward . 8.8.8.8 8.8.4.4'],
    added: ['    forward . 1.1.1.1 1.0.0.1'],
  },
  {
    file: 'kubeadm-default.corefile',
    before: ['/etc/resolv.conf'],
    servers: ['10.0.0.53'],
    removed: ['    forward . /etc/resolv.conf {'],
    added: ['    forward . 10.0.0.53 {'],
  },
  {
    file: 'k3s-default.corefile',
    before: ['/etc/resolv.conf'],
    servers: ['1.1.1.1', '[2606:4700::1111]:53', '2606:4700::1001'],
    removed: ['    forward . /etc/resolv.conf'],
    added: ['    forward . 1.1.1.1 [2606:4700::1111]:53 2606:4700::1001'],
    fileImports: ['/etc/coredns/custom/*.override'],
  },
  {
    file: 'user-hosts.corefile',
    before: ['10.0.0.53', '10.0.0.54'],
    servers: ['10.0.0.53'],
    removed: ['    forward . 10.0.0.53 10.0.0.54'],
    added: ['    forward . 10.0.0.53'],
  },
  {
    file: 'stub-domain.corefile',
    before: ['8.8.8.8', '8.8.4.4'],
    servers: ['9.9.9.9'],
    removed: ['    forward . 8.8.8.8 8.8.4.4'],
    added: ['    forward . 9.9.9.9'],
    others: [['example.corp:53', ['10.0.0.1']]],
  },
  {
    file: 'cache-ttl.corefile',
    before: ['1.1.1.1', '1.0.0.1'],
    servers: ['1.1.1.1', '1.0.0.1', '8.8.8.8'],
    removed: ['    forward . 1.1.1.1 1.0.0.1'],
    added: ['    forward . 1.1.1.1 1.0.0.1 8.8.8.8'],
  },
  {
    file: 'comments.corefile',
    before: ['8.8.8.8', '8.8.4.4'],
    servers: ['1.1.1.1'],
    removed: ['    forward . 8.8.8.8 8.8.4.4 # google'],
    added: ['    forward . 1.1.1.1 # google'],
  },
  {
    file: 'snippets.corefile',
    before: ['8.8.8.8'],
    servers: ['1.1.1.1'],
    removed: ['    forward . 8.8.8.8'],
    added: ['    forward . 1.1.1.1'],
    others: [['internal.example:53', ['9.9.9.9']]],
  },
  {
    file: 'multi-key.corefile',
    before: ['8.8.8.8'],
    servers: ['8.8.4.4'],
    removed: ['    forward . 8.8.8.8'],
    added: ['    forward . 8.8.4.4'],
    others: [['a.example:5300', ['10.1.1.1']], ['b.example.:5300', ['10.1.1.1']], ['tls://.:853', ['10.2.2.2']]],
  },
  {
    file: 'multi-key.corefile',
    key: 'B.Example:5300',
    before: ['10.1.1.1'],
    servers: ['10.9.9.9'],
    removed: ['    forward . 10.1.1.1'],
    added: ['    forward . 10.9.9.9'],
    others: [['.:53', ['8.8.8.8']], ['tls://.:853', ['10.2.2.2']]],
  },
  {
    file: 'no-forward.corefile',
    before: undefined,
    servers: ['8.8.8.8', '8.8.4.4'],
    removed: [],
    added: ['\tforward . 8.8.8.8 8.8.4.4'],
  },
  {
    file: 'env-placeholders.corefile',
    before: ['{$UPSTREAM}', '{env.FALLBACK}'],
    servers: ['1.1.1.1'],
    removed: ['    forward . {$UPSTREAM} {env.FALLBACK}'],
    added: ['    forward . 1.1.1.1'],
  },
  {
    file: 'odd-whitespace.corefile',
    before: ['8.8.8.8', '8.8.4.4'],
    servers: ['1.1.1.1'],
    removed: ['  forward    .    8.8.8.8 \t\t  8.8.4.4   '],
    added: ['  forward    .    1.1.1.1   '],
  },
  {
    file: 'odd-whitespace.corefile',
    before: ['8.8.8.8', '8.8.4.4'],
    servers: ['1.1.1.1', '1.0.0.1', '9.9.9.9'],
    removed: ['  forward    .    8.8.8.8 \t\t  8.8.4.4   '],
    added: ['  forward    .    1.1.1.1 \t\t  1.0.0.1 9.9.9.9   '],
  },
  {
    file: 'crlf.corefile',
    before: ['8.8.8.8', '8.8.4.4'],
    servers: ['1.1.1.1'],
    removed: ['    forward . 8.8.8.8 8.8.4.4\r'],
    added: ['    forward . 1.1.1.1\r'],
  },
];

test('forwarders: read, change only the forward of the block, keep everything else', () => {
  for (const c of FORWARD_CASES) {
    const label = `${c.file} ${c.key ?? ''}`;
    const text = fixture(c.file);
    const cf = parseCorefile(text);
    assert.deepEqual(getForwarders(cf, c.key), c.before, label);
    const othersBefore = (c.others ?? []).map(([key]) => getForwarders(cf, key));
    assert.deepEqual(othersBefore, (c.others ?? []).map(([, fwd]) => fwd), label);

    const result = setForwarders(cf, c.servers, c.key);
    assert.equal(result.changed, true, label);
    assert.deepEqual(result.fileImports, c.fileImports ?? [], label);
    const after = printCorefile(result.corefile);
    assert.deepEqual(lineDiff(text, after), { removed: c.removed, added: c.added }, label);
    assert.equal(printCorefile(cf), text, `${label}: the input is not modified`);

    const reparsed = parseCorefile(after);
    assert.equal(printCorefile(reparsed), after, label);
    assert.deepEqual(getForwarders(reparsed, c.key), c.servers, label);
    assert.deepEqual((c.others ?? []).map(([key]) => getForwarders(reparsed, key)), othersBefore, label);

    // Setting the same servers again changes nothing, and hands back the same object.
    const again = setForwarders(result.corefile, c.servers, c.key);
    assert.equal(again.changed, false, label);
    assert.equal(again.corefile, result.corefile, label);
    assert.equal(printCorefile(again.corefile), after, label);
  }
});

test('forwarders: the same servers leave every fixture untouched', () => {
  for (const file of readdirSync(FIXTURES)) {
    const text = fixture(file);
    const cf = parseCorefile(text);
    const servers = getForwarders(cf);
    if (!servers || file === 'env-placeholders.corefile') continue;
    const result = setForwarders(cf, servers);
    assert.equal(result.changed, false, file);
    assert.equal(result.corefile, cf, file);
    assert.equal(printCorefile(result.corefile), text, file);
  }
});

test('forwarders: FROM becomes ".", options block and its comments stay', () => {
  const text = '.:53 {\n    forward example.com 10.0.0.1 {\n        # keep me\n        except internal.example.com\n    }\n}\n';
  const result = setForwarders(parseCorefile(text), ['10.0.0.1']);
  assert.equal(printCorefile(result.corefile), '.:53 {\n    forward . 10.0.0.1 {\n        # keep me\n        except internal.example.com\n    }\n}\n');
});

test('forwarders: tokens that keep their value keep their spelling', () => {
  const text = '.:53 {\n    forward "." "8.8.8.8" 8.8.4.4 # two\n}\n';
  const cf = parseCorefile(text);
  assert.deepEqual(getForwarders(cf), ['8.8.8.8', '8.8.4.4']);
  assert.equal(setForwarders(cf, ['8.8.8.8', '8.8.4.4']).changed, false);
  assert.equal(printCorefile(setForwarders(cf, ['8.8.8.8', '1.1.1.1']).corefile), '.:53 {\n    forward "." "8.8.8.8" 1.1.1.1 # two\n}\n');
});

test('forwarders: several forward plugins, the root one is the upstream', () => {
  const text = '.:53 {\n  forward corp.example 10.0.0.1\n  forward . 8.8.8.8\n}\n';
  const cf = parseCorefile(text);
  assert.deepEqual(getForwarders(cf), ['8.8.8.8']);
  assert.equal(printCorefile(setForwarders(cf, ['1.1.1.1']).corefile), '.:53 {\n  forward corp.example 10.0.0.1\n  forward . 1.1.1.1\n}\n');

  const noRoot = parseCorefile('.:53 {\n  forward a.example 10.0.0.1\n  forward b.example 10.0.0.2\n}\n');
  assert.equal(getForwarders(noRoot), undefined);
  assert.equal(
    printCorefile(setForwarders(noRoot, ['1.1.1.1']).corefile),
    '.:53 {\n  forward a.example 10.0.0.1\n  forward b.example 10.0.0.2\n  forward . 1.1.1.1\n}\n',
  );
  // Chained `forward .` plugins (the first answers; `next` hands a query on): the first is the upstream,
  // and the edit changes it alone.
  const chain = parseCorefile('.:53 {\n  forward . 1.1.1.1 {\n    next NXDOMAIN\n  }\n  forward . 8.8.8.8\n}\n');
  assert.deepEqual(getForwarders(chain), ['1.1.1.1']);
  assert.deepEqual(forwardChain(chain), [
    { line: 2, servers: ['1.1.1.1'] },
    { line: 5, servers: ['8.8.8.8'] },
  ]);
  const edited = setForwarders(chain, ['9.9.9.9']);
  assert.deepEqual([edited.changed, edited.chained], [true, [5]]);
  assert.equal(printCorefile(edited.corefile), '.:53 {\n  forward . 9.9.9.9 {\n    next NXDOMAIN\n  }\n  forward . 8.8.8.8\n}\n');
  assert.deepEqual(setForwarders(chain, ['1.1.1.1']).changed, false);
});

test('forwarders: inserted lines take the indentation and line ends of the block', () => {
  const table: [string, string][] = [
    ['.:53 {\n}\n', '.:53 {\n    forward . 1.1.1.1\n}\n'],
    ['.:53 { }\n', '.:53 {\n    forward . 1.1.1.1\n}\n'],
    ['  .:53 {\n  }\n', '  .:53 {\n      forward . 1.1.1.1\n  }\n'],
    ['.:53 {\r\n  errors\r\n}\r\n', '.:53 {\r\n  errors\r\n  forward . 1.1.1.1\r\n}\r\n'],
    ['.:53 {\n  errors\n  cache 30 {\n    success 100\n  }\n}\n', '.:53 {\n  errors\n  cache 30 {\n    success 100\n  }\n  forward . 1.1.1.1\n}\n'],
    ['.:53\nerrors', '.:53\nerrors\nforward . 1.1.1.1'],
    ['.:53 { errors\n}\n', '.:53 { errors\n    forward . 1.1.1.1\n}\n'],
  ];
  for (const [text, expected] of table) {
    const out = printCorefile(setForwarders(parseCorefile(text), ['1.1.1.1']).corefile);
    assert.equal(out, expected, JSON.stringify(text));
    assert.equal(printCorefile(parseCorefile(out)), out);
  }
});

test('forwarders: a new forward line leaves the comment at the end of the line before it in place', () => {
  const table: [string, string][] = [
    ['.:53 {\n    errors  # coredns.io/plugins/errors\n}\n', '.:53 {\n    errors  # coredns.io/plugins/errors\n    forward . 1.1.1.1\n}\n'],
    ['.:53 {\r\n  errors # e\r\n  # last words\r\n  }\r\n', '.:53 {\r\n  errors # e\r\n  # last words\r\n  forward . 1.1.1.1\r\n  }\r\n'],
    ['.:53\nerrors # e\n# end\n', '.:53\nerrors # e\n# end\nforward . 1.1.1.1\n'],
    ['.:53\nerrors # e\n}\nx {\n}\n', '.:53\nerrors # e\nforward . 1.1.1.1\n}\nx {\n}\n'],
  ];
  for (const [text, expected] of table) {
    assert.equal(printCorefile(setForwarders(parseCorefile(text), ['1.1.1.1']).corefile), expected, JSON.stringify(text));
  }
});

test('forwarders: a Corefile CoreDNS would not load is refused before any change, saying why', () => {
  const table: [string, string][] = [
    [
      '.:53 {\n    forward . 1.1.1.1 \\\n        8.8.8.8\n}\n',
      'Corefile:3: CoreDNS has no plugin "8.8.8.8", so it would not load this Corefile: the "\\" at the end of line 2 does not continue a line in a Corefile; put the arguments on one line',
    ],
    ['.:53 {\n    errors\n    forwrd . 1.1.1.1\n}\n', 'Corefile:3: CoreDNS has no plugin "forwrd", so it would not load this Corefile: fix the name, or remove the line'],
    [
      '.:53 {\n  kubernetes cluster.local {\n    pods insecure\n}\n',
      'Corefile:1:6: the "{" of .:53 is never closed (CoreDNS lets the file\'s last "}", which closes a plugin\'s block, close it too, but a line added at its end would fall outside): add the matching "}"',
    ],
  ];
  for (const [text, message] of table) {
    assert.throws(() => setForwarders(parseCorefile(text), ['1.1.1.1']), corefileError(message), JSON.stringify(text));
  }
  // The same servers: nothing to change, but CoreDNS would still not load it.
  assert.throws(
    () => setForwarders(parseCorefile('.:53 {\n  forward . 1.1.1.1\n  forwrd x\n}\n'), ['1.1.1.1']),
    corefileError('Corefile:3: CoreDNS has no plugin "forwrd", so it would not load this Corefile: fix the name, or remove the line'),
  );
  assert.throws(
    () => setClusterDomain(parseCorefile('.:53 {\n  kubernetes cluster.local \\\n  in-addr.arpa\n}\n'), 'home.arpa'),
    corefileError('Corefile:3: CoreDNS has no plugin "in-addr.arpa", so it would not load this Corefile: the "\\" at the end of line 2 does not continue a line in a Corefile; put the arguments on one line'),
  );
});

test('forwarders: what cannot be edited safely is refused with a message', () => {
  const snippet = parseCorefile(fixture('snippet-forward.corefile'));
  assert.deepEqual(getForwarders(snippet), ['9.9.9.9', '149.112.112.112']);
  assert.equal(setForwarders(snippet, ['9.9.9.9', '149.112.112.112']).changed, false);
  assert.throws(
    () => setForwarders(snippet, ['1.1.1.1']),
    corefileError(
      'Corefile:3:5: the forward plugin of .:53 comes from snippet (base), which other server blocks may import: change its servers there by hand, or move the forward line into the .:53 block',
    ),
  );

  const table: [string, string][] = [
    ['example.org:53 {\n  forward . 1.1.1.1\n}\n', 'Corefile: no server block for .:53: add a ".:53 {" block with a forward plugin'],
    ['import /etc/coredns/*.server\n', 'Corefile: no server block for .:53 (it may come from import /etc/coredns/*.server): add a ".:53 {" block with a forward plugin'],
    ['.:53 {\n  errors\n}\ndns://.:53 {\n  errors\n}\n', 'Corefile: 2 server blocks serve .:53 (lines 1 and 4): merge them into one'],
    // A snippet used before its definition is a file import for CoreDNS, so it gives no forward.
    ['(late) {\n  errors\n}\n', 'Corefile: no server block for .:53: add a ".:53 {" block with a forward plugin'],
  ];
  for (const [text, message] of table) {
    assert.throws(() => setForwarders(parseCorefile(text), ['1.1.1.1']), corefileError(message), JSON.stringify(text));
    assert.throws(() => getForwarders(parseCorefile(text)), corefileError(message), JSON.stringify(text));
  }

  const cf = parseCorefile(fixture('microk8s-default.corefile'));
  for (const bad of ['1.1.1.1 8.8.8.8', '{$X}', '"q"', '', '#', '}']) {
    assert.throws(() => setForwarders(cf, [bad]), InternalError, bad);
  }
  assert.throws(() => setForwarders(cf, []), InternalError);
});

test('forwarders: a snippet defined after the block does not count, one defined before does', () => {
  const late = parseCorefile('.:53 {\n  import up\n}\n(up) {\n  forward . 9.9.9.9\n}\n');
  assert.equal(getForwarders(late), undefined);
  const result = setForwarders(late, ['1.1.1.1']);
  assert.deepEqual(result.fileImports, ['up']);
  assert.equal(printCorefile(result.corefile), '.:53 {\n  import up\n  forward . 1.1.1.1\n}\n(up) {\n  forward . 9.9.9.9\n}\n');

  // Snippets importing snippets, and an import cycle, are followed once.
  const nested = parseCorefile('(a) {\n  forward . 9.9.9.9\n  import b\n}\n(b) {\n  import a\n}\n.:53 {\n  import b\n}\n');
  assert.deepEqual(getForwarders(nested), ['9.9.9.9']);
});
