/**
 * Shell completion scripts for bash, zsh and fish, generated from a CompletionSpec (src/completion/spec.ts).
 * Pure: the spec in, the script's text out. bash and zsh share one decision procedure (written twice, in
 * each shell's dialect); fish declares its completions as data.
 *
 * The procedure: the words before the cursor give the command, its subcommand and the last addon named
 * (global options and options with a value are skipped with their value). Then:
 * after an option that takes a value, its values; a word starting with `-`, the options that apply here
 * (the command's, the last addon's, the global ones); otherwise the command, subcommand, or for
 * enable/disable the addon names and, after `NAME:`, that addon's versions or switches (`cilium:v1.8`).
 */
import type { CompletionSpec, OptionSpec, ValueKind } from './spec.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const q = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** `kind words...` lines of the value table, keyed by `command:addon:flag` patterns, for bash/zsh `case`. */
function valueCases(spec: CompletionSpec): [string, ValueKind][] {
  const rows: [string, ValueKind][] = [];
  for (const c of spec.commands) for (const o of c.options) rows.push([o.flags.map((f) => `${c.name}:*:${f}`).join('|'), o.value]);
  for (const a of spec.addons) for (const o of a.options) rows.push([o.flags.map((f) => `enable:${a.name}:${f}|disable:${a.name}:${f}`).join('|'), o.value]);
  for (const o of [...spec.globals, ...spec.topLevel]) rows.push([o.flags.map((f) => `*:*:${f}`).join('|'), o.value]);
  return rows;
}

const kindLine = (v: ValueKind) => (v.kind === 'words' ? `words ${v.words.join(' ')}` : v.kind);
const flagsOf = (options: readonly OptionSpec[]) => options.flatMap((o) => o.flags);

/** A shell function printing the words of the first row whose `case` pattern matches its subject. */
function caseFunction(name: string, subject: string, rows: readonly [string, string][], fallback?: string): string {
  const lines = rows.map(([pattern, words]) => `    ${pattern}) printf '%s\\n' ${q(words)} ;;`);
  if (fallback !== undefined) lines.push(`    *) printf '%s\\n' ${fallback} ;;`);
  return `${name}() {\n  case "${subject}" in\n${lines.join('\n')}\n  esac\n}`;
}

/** The helper functions both bash and zsh use (POSIX `case` and printf only). */
function helpers(spec: CompletionSpec, prefix: string): string {
  const values = valueCases(spec).map(([pattern, v]): [string, string] => [pattern.replace(/([^*:|A-Za-z0-9._-])/g, '\\$1'), kindLine(v)]);
  return [
    '# What option $3 takes in command $1 with last addon $2: none, text, file, dir, addon, or "words W...".',
    caseFunction(`${prefix}_value`, '$1:$2:$3', values, 'none'),
    caseFunction(`${prefix}_command_options`, '$1', spec.commands.map((c) => [c.name, flagsOf(c.options).join(' ')])),
    caseFunction(`${prefix}_addon_options`, '$1', spec.addons.map((a) => [a.name, flagsOf(a.options).join(' ')])),
    caseFunction(`${prefix}_addon_words`, '$1', spec.addons.map((a) => [a.name, a.words.join(' ')])),
    caseFunction(`${prefix}_subcommands`, '$1', spec.commands.filter((c) => c.subcommands.length).map((c) => [c.name, c.subcommands.join(' ')])),
  ].join('\n');
}

const header = (shell: Shell, version: string) =>
  `# ${shell} completion for mk8s-addons ${version}, generated from its catalogue by "mk8s-addons completion ${shell}".`;

export function bashScript(spec: CompletionSpec, version: string): string {
  const commands = spec.commands.map((c) => c.name).join(' ');
  const globals = flagsOf(spec.globals).join(' ');
  const top = flagsOf(spec.topLevel).join(' ');
  const addons = spec.addons.map((a) => a.name).join(' ');
  return `${header('bash', version)}
# Load it with: source <(mk8s-addons completion bash), or save it as
# /etc/bash_completion.d/mk8s-addons (or ~/.local/share/bash-completion/completions/mk8s-addons).
${helpers(spec, '_mk8s_addons')}
_mk8s_addons() {
  # The line up to the cursor, split on blanks: ":" stays inside words whatever COMP_WORDBREAKS says.
  local line="\${COMP_LINE:0:COMP_POINT}"
  local cur="\${line##*[[:blank:]]}"
  local -a before
  read -r -a before <<< "\${line:0:\${#line}-\${#cur}}"
  local cmd="" sub="" addon="" prev="" kind i w
  for ((i = 1; i < \${#before[@]}; i++)); do
    w="\${before[i]}"
    if [[ $w == -* ]]; then
      kind=$(_mk8s_addons_value "\${cmd:-none}" "\${addon:-none}" "\${w%%=*}")
      if [[ $kind != none && $w != *=* ]]; then
        if ((i + 1 == \${#before[@]})); then prev="$w"; fi
        ((i++))
      fi
    elif [[ -z $cmd ]]; then cmd="$w"
    elif [[ $cmd == enable || $cmd == disable ]]; then addon="\${w%%:*}"
    elif [[ -z $sub ]]; then sub="$w"
    fi
  done
  local -a cands=()
  if [[ -n $prev ]]; then
    kind=$(_mk8s_addons_value "\${cmd:-none}" "\${addon:-none}" "$prev")
    case "$kind" in
      words\\ *) read -r -a cands <<< "\${kind#words }" ;;
      addon) cands=(${addons}) ;;
      file) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0 ;;
      dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return 0 ;;
      *) COMPREPLY=(); return 0 ;;
    esac
  elif [[ $cur == -* && -z $cmd ]]; then
    cands=(${globals} ${top})
  elif [[ $cur == -* ]]; then
    read -r -a cands <<< "${globals} $(_mk8s_addons_command_options "$cmd") $(_mk8s_addons_addon_options "$addon")"
  elif [[ -z $cmd ]]; then
    cands=(${commands})
  elif [[ $cmd == enable || $cmd == disable ]]; then
    if [[ $cmd == enable && $cur == *:* ]]; then read -r -a cands <<< "$(_mk8s_addons_addon_words "\${cur%%:*}")"
    else cands=(${addons})
    fi
  elif [[ -z $sub ]]; then
    read -r -a cands <<< "$(_mk8s_addons_subcommands "$cmd")"
  fi
  mapfile -t COMPREPLY < <(compgen -W "\${cands[*]}" -- "$cur")
  # bash replaces only the part of the word after the last ":" when ":" breaks words.
  if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
    local colon="\${cur%"\${cur##*:}"}"
    COMPREPLY=("\${COMPREPLY[@]#"$colon"}")
  fi
  return 0
}
complete -F _mk8s_addons mk8s-addons
`;
}

export function zshScript(spec: CompletionSpec, version: string): string {
  const commands = spec.commands.map((c) => c.name).join(' ');
  const globals = flagsOf(spec.globals).join(' ');
  const top = flagsOf(spec.topLevel).join(' ');
  const addons = spec.addons.map((a) => a.name).join(' ');
  return `#compdef mk8s-addons
${header('zsh', version)}
# Load it with: source <(mk8s-addons completion zsh) after compinit, or save it as _mk8s-addons in a
# folder of $fpath.
${helpers(spec, '_mk8s_addons')}
_mk8s_addons() {
  local cur="$PREFIX"
  local -a before cands
  before=("\${(@)words[2,CURRENT-1]}")
  local cmd="" sub="" addon="" prev="" kind w
  local -i i=1
  while (( i <= \${#before} )); do
    w="\${before[i]}"
    if [[ $w == -* ]]; then
      kind=$(_mk8s_addons_value "\${cmd:-none}" "\${addon:-none}" "\${w%%=*}")
      if [[ $kind != none && $w != *=* ]]; then
        if (( i == \${#before} )); then prev="$w"; fi
        (( i++ ))
      fi
    elif [[ -z $cmd ]]; then cmd="$w"
    elif [[ $cmd == enable || $cmd == disable ]]; then addon="\${w%%:*}"
    elif [[ -z $sub ]]; then sub="$w"
    fi
    (( i++ ))
  done
  if [[ -n $prev ]]; then
    kind=$(_mk8s_addons_value "\${cmd:-none}" "\${addon:-none}" "$prev")
    case "$kind" in
      words\\ *) cands=(\${=kind#words }) ;;
      addon) cands=(${addons}) ;;
      file) _files; return ;;
      dir) _files -/; return ;;
      *) return 1 ;;
    esac
  elif [[ $cur == -* && -z $cmd ]]; then
    cands=(${globals} ${top})
  elif [[ $cur == -* ]]; then
    cands=(${globals} \${=$(_mk8s_addons_command_options "$cmd")} \${=$(_mk8s_addons_addon_options "$addon")})
  elif [[ -z $cmd ]]; then
    cands=(${commands})
  elif [[ $cmd == enable || $cmd == disable ]]; then
    if [[ $cmd == enable && $cur == *:* ]]; then cands=(\${=$(_mk8s_addons_addon_words "\${cur%%:*}")})
    else cands=(${addons})
    fi
  elif [[ -z $sub ]]; then
    cands=(\${=$(_mk8s_addons_subcommands "$cmd")})
  fi
  compadd -a cands
}
compdef _mk8s_addons mk8s-addons
`;
}

export function fishScript(spec: CompletionSpec, version: string): string {
  const lines = [header('fish', version), '# Load it with: mk8s-addons completion fish | source, or save it as ~/.config/fish/completions/mk8s-addons.fish.', 'complete -c mk8s-addons -f'];
  const opt = (cond: string, o: OptionSpec, addonNames: string) => {
    const flags = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
    const v = o.value;
    const value =
      v.kind === 'none' ? '' : v.kind === 'words' ? ` -x -a ${q(v.words.join(' '))}` : v.kind === 'addon' ? ` -x -a ${q(addonNames)}` : v.kind === 'file' ? ' -r -F' : v.kind === 'dir' ? " -x -a '(__fish_complete_directories)'" : ' -x';
    return `complete -c mk8s-addons${cond ? ` -n ${q(cond)}` : ''} ${flags}${value}`;
  };
  const addonNames = spec.addons.map((a) => a.name).join(' ');
  // The command is the first word that is neither an option nor the value of a global option before it
  // (fish's __fish_use_subcommand would take the json of --output json for one).
  const valued = spec.globals.filter((o) => o.value.kind !== 'none').flatMap((o) => o.flags);
  lines.push(
    'function __mk8s_addons_command',
    '    set -l skip 0',
    '    for w in (commandline -opc)[2..-1]',
    '        if test $skip = 1',
    '            set skip 0',
    '            continue',
    '        end',
    '        switch $w',
    `            case ${valued.join(' ')}`,
    '                set skip 1',
    "            case '-*'",
    "            case '*'",
    '                echo $w',
    '                return 0',
    '        end',
    '    end',
    '    return 1',
    'end',
  );
  const inCommand = (...names: string[]) => `contains -- (__mk8s_addons_command) ${names.join(' ')}`;
  lines.push(`complete -c mk8s-addons -n 'not __mk8s_addons_command' -a ${q(spec.commands.map((c) => c.name).join(' '))}`);
  for (const o of spec.globals) lines.push(opt('', o, addonNames));
  for (const o of spec.topLevel) lines.push(opt('not __mk8s_addons_command', o, addonNames));
  for (const c of spec.commands) {
    if (c.subcommands.length) lines.push(`complete -c mk8s-addons -n ${q(`${inCommand(c.name)}; and not __fish_seen_subcommand_from ${c.subcommands.join(' ')}`)} -a ${q(c.subcommands.join(' '))}`);
    for (const o of c.options) lines.push(opt(inCommand(c.name), o, addonNames));
  }
  lines.push(`complete -c mk8s-addons -n ${q(inCommand('enable', 'disable'))} -a ${q(addonNames)}`);
  for (const a of spec.addons) {
    if (a.words.length) lines.push(`complete -c mk8s-addons -n ${q(`${inCommand('enable')}; and string match -q -- '${a.name}:*' (commandline -ct)`)} -a ${q(a.words.join(' '))}`);
    for (const o of a.options) lines.push(opt(`${inCommand('enable', 'disable')}; and __fish_seen_subcommand_from ${a.name}`, o, addonNames));
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(shell: Shell, spec: CompletionSpec, version: string): string {
  return shell === 'bash' ? bashScript(spec, version) : shell === 'zsh' ? zshScript(spec, version) : fishScript(spec, version);
}
